"""Telegram Bot API adapter: connect a bot by token, receive updates by webhook, send
text, photos and documents. Base URL from config (TELEGRAM_API_URL) so tests use a fake."""
from __future__ import annotations

import hmac
import re
import logging
import secrets
from datetime import datetime, timezone

import requests
from flask_babel import gettext as _

from .base import (BotInfo, ChannelAdapter, ChannelError, InboundAttachment, InboundMessage,
                   InboundStatus, OutboundMessage, SendResult)

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "my_chat_member"]
MEDIA_KINDS = ("document", "sticker", "voice", "audio", "video", "video_note", "animation")
DEFAULT_MIME = {"sticker": "image/webp", "voice": "audio/ogg", "video_note": "video/mp4",
                "animation": "video/mp4", "photo": "image/jpeg"}
DEFAULT_NAME = {"sticker": "sticker.webp", "voice": "voice.ogg", "video_note": "video.mp4",
                "animation": "animation.mp4", "audio": "audio", "video": "video.mp4",
                "photo": "photo.jpg", "document": "file"}


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class TelegramAdapter(ChannelAdapter):
    kind = "telegram"
    label = "Telegram"
    needs_webhook = True
    has_avatars = True
    can_start_conversations = True  # until the user blocks the bot (no time window)
    max_text_length = 4096
    max_caption_length = 1024
    max_photo_size = 10 * 1024 * 1024
    max_file_size = 50 * 1024 * 1024
    max_download_size = 20 * 1024 * 1024

    def __init__(self, channel_settings, secrets=None, **kw):
        super().__init__(channel_settings, secrets, **kw)
        self.base_url = (self.config.get("TELEGRAM_API_URL") or "https://api.telegram.org").rstrip("/")
        self.http = requests.Session()

    TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,60}$")

    @classmethod
    def token_looks_valid(cls, token: str) -> bool:
        return bool(cls.TOKEN_RE.match(token))

    @classmethod
    def token_hint(cls) -> str:
        return _("This does not look like a bot token. Copy it from @BotFather: "
                 "digits, a colon, then letters and digits.")

    # -- the wire ---------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.secrets.get("token", "")

    def call(self, method: str, data: dict | None = None, files: dict | None = None) -> dict:
        try:
            if files:
                resp = self.http.post(f"{self.base_url}/bot{self.token}/{method}", data=data,
                                      files=files, timeout=(5, 60))
            else:
                resp = self.http.post(f"{self.base_url}/bot{self.token}/{method}", json=data or {},
                                      timeout=(5, 30))
        except requests.RequestException as exc:
            raise ChannelError("Telegram could not be reached.", retry_after=5) from exc
        try:
            body = resp.json()
        except ValueError:
            raise ChannelError(f"Telegram answered HTTP {resp.status_code} without JSON.",
                               retry_after=10 if resp.status_code >= 500 else 0,
                               permanent=resp.status_code < 500) from None
        if body.get("ok"):
            return body["result"]
        raise self._error(body, resp.status_code)

    @staticmethod
    def _error(body: dict, status: int) -> ChannelError:
        code = body.get("error_code", status)
        description = body.get("description") or f"HTTP {status}"
        params = body.get("parameters") or {}
        if code == 429:
            return ChannelError(f"Telegram rate limit: {description}",
                                retry_after=float(params.get("retry_after", 5)))
        if code >= 500:
            return ChannelError(f"Telegram error: {description}", retry_after=10)
        unreachable = code == 403 and ("blocked" in description or "initiate" in description
                                       or "deactivated" in description)
        if code in (401, 404):
            description = "The bot token is not valid (Telegram answered “Unauthorized”)."
        err = ChannelError(description, permanent=True)
        err.recipient_unreachable = unreachable
        err.code = code
        return err

    # -- connecting ---------------------------------------------------------------
    def connect(self) -> BotInfo:
        me = self.call("getMe")
        return BotInfo(external_id=str(me["id"]), username=me.get("username") or "",
                       name=me.get("first_name") or me.get("username") or "")

    def register_webhook(self, url: str) -> dict:
        self.call("setWebhook", {"url": url, "secret_token": self.secrets["webhook_secret"],
                                 "allowed_updates": ALLOWED_UPDATES, "max_connections": 40})
        return self.webhook_info()

    def webhook_info(self) -> dict:
        return self.call("getWebhookInfo")

    # -- inbound --------------------------------------------------------------------
    def verify_request(self, headers, raw_body: bytes) -> bool:
        expected = self.secrets.get("webhook_secret", "")
        given = headers.get(SECRET_HEADER, "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def event_key(self, payload: dict) -> tuple[str, str | None]:
        sender = _sender(payload)
        return str(payload["update_id"]), (str(sender["id"]) if sender else None)

    def parse(self, payload: dict) -> list:
        if "my_chat_member" in payload:
            update = payload["my_chat_member"]
            if update.get("chat", {}).get("type") != "private":
                return []
            status = update["new_chat_member"]["status"]
            user = update["from"]
            return [InboundStatus(sender_id=str(update["chat"]["id"]),
                                  reachable=status not in ("kicked", "left"),
                                  sender_name=_full_name(user))]
        message = payload.get("message") or payload.get("edited_message")
        if not message or message.get("chat", {}).get("type") != "private":
            return []  # groups and channels are not conversations we route
        user = message.get("from") or {}
        text = message.get("text") or message.get("caption") or ""
        attachments = []
        if message.get("photo"):
            largest = message["photo"][-1]
            attachments.append(InboundAttachment(
                filename=f"photo_{message['message_id']}.jpg", mime="image/jpeg",
                size=largest.get("file_size") or 0, media_ref=largest["file_id"], is_image=True,
                width=largest.get("width"), height=largest.get("height")))
        for kind in MEDIA_KINDS:
            media = message.get(kind)
            if media:
                attachments.append(InboundAttachment(
                    filename=media.get("file_name") or DEFAULT_NAME.get(kind, kind),
                    mime=media.get("mime_type") or DEFAULT_MIME.get(kind, "application/octet-stream"),
                    size=media.get("file_size") or 0, media_ref=media["file_id"],
                    is_image=kind == "sticker" and not media.get("is_animated")
                    and not media.get("is_video")))
                if kind == "sticker" and media.get("emoji") and not text:
                    text = media["emoji"]
        if message.get("location"):
            loc = message["location"]
            text = (text + "\n" if text else "") + \
                f"📍 https://www.openstreetmap.org/?mlat={loc['latitude']}&mlon={loc['longitude']}"
        if message.get("contact"):
            c = message["contact"]
            name = " ".join(filter(None, [c.get("first_name"), c.get("last_name")]))
            text = (text + "\n" if text else "") + f"👤 {name} {c.get('phone_number', '')}".strip()
        return [InboundMessage(
            sender_id=str(message["chat"]["id"]), external_id=str(message["message_id"]),
            sent_at=datetime.fromtimestamp(message.get("date", 0), timezone.utc),
            text=text, sender_name=_full_name(user), attachments=attachments,
            sender_details={k: user[k] for k in ("username", "language_code") if user.get(k)})]

    def download(self, media_ref: str) -> bytes:
        info = self.call("getFile", {"file_id": media_ref})
        if (info.get("file_size") or 0) > self.max_download_size or not info.get("file_path"):
            raise ChannelError("The file is larger than Telegram lets bots download (20 MB).",
                               permanent=True)
        try:
            resp = self.http.get(f"{self.base_url}/file/bot{self.token}/{info['file_path']}",
                                 timeout=(5, 120))
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise ChannelError("The file could not be downloaded from Telegram.",
                               retry_after=10) from exc
        return resp.content

    def avatar(self, sender_id: str, details: dict) -> bytes | None:
        """The newest profile photo, in the largest size up to 640 px (Telegram keeps
        160, 320 and 640 px copies; a contact card needs no more)."""
        found = self.call("getUserProfilePhotos", {"user_id": sender_id, "limit": 1})
        if not found.get("photos") or not found["photos"][0]:
            return None  # no photo, or the user's privacy settings hide it from bots
        sizes = found["photos"][0]
        small = [s for s in sizes if max(s.get("width", 0), s.get("height", 0)) <= 640]
        best = max(small or sizes[:1], key=lambda s: s.get("width", 0) * s.get("height", 0))
        return self.download(best["file_id"])

    # -- outbound ----------------------------------------------------------------------
    def check_outbound(self, text: str, attachment) -> str | None:
        """A readable reason why this message cannot go to Telegram, or None."""
        if attachment is None and len(text) > self.max_text_length:
            return _("Telegram takes at most %(n)s characters per message.",
                     n=self.max_text_length)
        if attachment is not None:
            limit = self.max_photo_size if attachment.is_image else self.max_file_size
            if attachment.size > limit:
                return _("Telegram takes files of at most %(mb)s MB here.",
                         mb=limit // (1024 * 1024))
        return None

    def send(self, outbound: OutboundMessage) -> SendResult:
        chat_id = outbound.recipient_id
        if not outbound.attachments:
            result = self.call("sendMessage", {"chat_id": chat_id, "text": outbound.text})
            return SendResult(external_id=str(result["message_id"]))
        last = None
        for i, att in enumerate(outbound.attachments):
            caption = outbound.text if i == 0 and len(outbound.text) <= self.max_caption_length else None
            method, field = ("sendPhoto", "photo") if att.is_image else ("sendDocument", "document")
            with open(att.path, "rb") as fh:
                data = {"chat_id": chat_id}
                if caption:
                    data["caption"] = caption
                last = self.call(method, data, files={field: (att.filename, fh, att.mime)})
        if outbound.text and len(outbound.text) > self.max_caption_length:
            last = self.call("sendMessage", {"chat_id": chat_id, "text": outbound.text})
        return SendResult(external_id=str(last["message_id"]))


def _sender(payload: dict) -> dict | None:
    for key in ("message", "edited_message", "my_chat_member"):
        if key in payload:
            return payload[key].get("chat")
    return None


def _full_name(user: dict) -> str | None:
    name = " ".join(filter(None, [user.get("first_name"), user.get("last_name")]))
    return name or user.get("username")
