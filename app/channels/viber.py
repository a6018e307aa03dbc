"""Viber REST Bot API adapter: connect a bot by its authentication token, receive
callbacks by webhook (signed with the token), send text, pictures and files.

Viber takes no uploads: it downloads what we send from our signed, expiring public
links (`OutboundAttachment.url`, see services/public_files.py). Base URL from config
(VIBER_API_URL) so tests use a fake."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
import os
import re
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import requests
from flask_babel import force_locale
from flask_babel import gettext as _

from .base import (BotInfo, ChannelAdapter, ChannelError, InboundAttachment, InboundMessage,
                   InboundReceipt, InboundStatus, OutboundMessage, SendResult)

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Viber-Auth-Token"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
# message, subscribed and unsubscribed always come; these are the optional ones we use.
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed",
               "conversation_started"]
RECEIPTS = {"delivered": "delivered", "seen": "read", "failed": "failed"}
# What we store. Not kept: the "webhook" check during set_webhook, "conversation_started"
# (a user merely opened the bot's chat screen: not subscribed, nothing written, and we
# could only answer with a welcome message), and event types we do not know.
KEPT = frozenset({"message", "subscribed", "unsubscribed", *RECEIPTS})
HANDSHAKE_KEYS = frozenset({"event", "timestamp", "chat_hostname", "message_token"})

# Pictures: Viber names the format by the media URL's last path segment.
PICTURE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif"}
PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")
# creators.viber.com, send_message: files Viber refuses to deliver.
FORBIDDEN_EXTENSIONS = frozenset(
    ".bat .bin .cmd .com .cpl .exe .gadget .inf1 .ins .inx .isu .job .jse .lnk .msc .msi .msp .mst"
    " .paf .pif .ps1 .reg .rgs .sct .shb .shs .u3p .vb .vbe .vbs .vbscript .ws .wsf"
    " .action .app .command .csh .osx .workflow .ksh .out .run .apk .ipa".split())

# Readable reasons per Viber status code (creators.viber.com "Common Errors"). Key on the
# number: the status_message strings are only partly documented.
UNREACHABLE = {
    5: "The customer is no longer registered on Viber.",
    6: "The customer has unsubscribed from the bot: they can be written to again once "
       "they write to it.",
}
REASONS = {
    2: "The bot token is not valid (Viber answered “invalidAuthToken”).",
    3: "Viber refused the request as invalid (badData).",
    4: "Viber refused the request: something required is missing (missingData).",
    7: "The Viber bot is blocked.",
    8: "Viber does not know this bot (publicAccountNotFound).",
    9: "The Viber bot is suspended.",
    10: "Viber has no webhook for this bot: re-register it on the channel page.",
    11: "The customer’s Viber has no device that can receive this message.",
    13: "The customer’s Viber app is too old for this message.",
    14: "The customer’s Viber app is too old for this message.",
    15: "The Viber bot is not authorized to send (publicAccountNotAuthorized).",
    21: "Viber does not deliver to the customer’s country.",
    23: "The Viber bot has used up its free messages outside conversations.",
    24: "The Viber bot has no balance left to pay for messages.",
}
TOO_MANY_REQUESTS = 12
RATE_LIMIT_WAIT = 60.0


class ViberAdapter(ChannelAdapter):
    kind = "viber"
    label = "Viber"
    needs_webhook = True
    has_avatars = True
    can_start_conversations = True   # any subscribed user, any time (may be billed)
    supports_read_receipts = True    # "seen" callbacks
    max_text_length = 7000
    max_caption_length = 768
    # Viber shows pictures up to 1 MB on iOS (3 MB on Android): larger images go as files.
    max_picture_size = 1024 * 1024
    max_file_size = 50 * 1024 * 1024
    max_download_size = 50 * 1024 * 1024
    max_sender_name = 28

    def __init__(self, channel_settings, secrets=None, **kw):
        super().__init__(channel_settings, secrets, **kw)
        self.base_url = (self.config.get("VIBER_API_URL")
                         or "https://chatapi.viber.com/pa").rstrip("/")
        self.http = requests.Session()

    # Three groups of 16 letters and digits, e.g. 4453b6ac12345678-e02c5f12174805f9-…;
    # lenient on the group sizes, strict on what a paste mistake brings in (spaces,
    # quotes, a Telegram token's colon, a whole URL).
    TOKEN_RE = re.compile(r"^[A-Za-z0-9]{4,64}(?:-[A-Za-z0-9]{4,64}){1,5}$")

    @classmethod
    def token_looks_valid(cls, token: str) -> bool:
        return 20 <= len(token) <= 120 and bool(cls.TOKEN_RE.match(token))

    @classmethod
    def token_hint(cls) -> str:
        return _("This does not look like a Viber bot token. Copy it from the bot’s "
                 "“Edit info” screen or the Viber Admin Panel: groups of letters and digits "
                 "joined by hyphens.")

    # -- the wire ---------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.secrets.get("token", "")

    def call(self, endpoint: str, body: dict | None = None) -> dict:
        # UTF-8, not \u escapes: Viber limits bodies to 30 KB, and 7000 Cyrillic
        # characters escaped would not fit.
        data = json.dumps(body or {}, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            resp = self.http.post(f"{self.base_url}/{endpoint}", data=data, timeout=(5, 30),
                                  headers={AUTH_HEADER: self.token,
                                           "Content-Type": "application/json; charset=utf-8"})
        except requests.RequestException as exc:
            raise ChannelError("Viber could not be reached.", retry_after=5) from exc
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), int):
            raise self._http_error(resp.status_code)
        if answer["status"] != 0:
            raise self._error(answer, endpoint)
        if not 200 <= resp.status_code < 300:
            raise self._http_error(resp.status_code)
        return answer

    @staticmethod
    def _http_error(status: int) -> ChannelError:
        if status == 429 or status >= 500:
            return ChannelError(f"Viber answered HTTP {status}; trying again later.",
                                retry_after=RATE_LIMIT_WAIT if status == 429 else 10)
        err = ChannelError(f"Viber answered HTTP {status} without a status.", permanent=True)
        err.code = status
        return err

    @staticmethod
    def _error(body: dict, endpoint: str = "") -> ChannelError:
        code = body.get("status")
        message = body.get("status_message") or ""
        if code == TOO_MANY_REQUESTS:
            err = ChannelError("Viber rate limit: too many messages to this customer without "
                               "a reply.", retry_after=RATE_LIMIT_WAIT)
        elif code == 1 and endpoint == "set_webhook":
            reason = ("Viber could not verify the webhook address: it must be a public HTTPS "
                      "address with a trusted certificate, and it must answer Viber’s check.")
            err = ChannelError(reason + (f" ({message})" if message else ""), permanent=True)
        elif code == 1:
            err = ChannelError("Viber could not download the attachment from our public link: "
                               "the console’s public address must be reachable from the "
                               "internet.", permanent=True)
        elif code in UNREACHABLE:
            err = ChannelError(UNREACHABLE[code], permanent=True)
            err.recipient_unreachable = True
        elif code in REASONS:
            err = ChannelError(REASONS[code], permanent=True)
        else:
            err = ChannelError(f"Viber error {code}: {message or 'failure'}", permanent=True)
        err.code = code
        return err

    # -- connecting ---------------------------------------------------------------
    def connect(self) -> BotInfo:
        info = self.call("get_account_info")
        if not info.get("id"):
            raise ChannelError("Viber answered without the bot’s id.", permanent=True)
        return BotInfo(external_id=str(info["id"]), username=info.get("uri") or "",
                       name=info.get("name") or info.get("uri") or "")

    def register_webhook(self, url: str) -> dict:
        """set_webhook makes Viber POST a signed "webhook" check to `url` at once: the
        channel must already exist (services.channels.connect_bot commits it first)."""
        answer = self.call("set_webhook", {"url": url, "event_types": EVENT_TYPES,
                                           "send_name": True, "send_photo": True})
        info = self.webhook_info()
        info["url"] = info["url"] or url
        info["event_types"] = info["event_types"] or answer.get("event_types") or []
        return info

    def webhook_info(self) -> dict:
        info = self.call("get_account_info")
        return {"url": info.get("webhook") or "", "event_types": info.get("event_types") or [],
                "subscribers_count": info.get("subscribers_count")}

    # -- inbound --------------------------------------------------------------------
    def verify_request(self, headers, raw_body: bytes) -> bool:
        given = headers.get(SIGNATURE_HEADER)
        if not given:
            # Whether Viber signs its webhook check is undocumented; it stores nothing.
            return _is_handshake(raw_body)
        if not self.token:
            return False
        expected = hmac.new(self.token.encode(), raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.strip().lower().encode(), expected.encode())

    def event_key(self, payload: dict) -> tuple[str | None, str | None]:
        event = payload["event"]
        if event not in KEPT:
            return None, None
        # delivered and seen carry the token of OUR message: the event name keeps them apart.
        return f"{event}:{payload['message_token']}", _sender_id(payload)

    def parse(self, payload: dict) -> list:
        event = payload.get("event")
        if event == "message":
            return self._message(payload)
        if event == "subscribed":
            user = payload["user"]
            return [InboundStatus(sender_id=str(user["id"]), reachable=True,
                                  sender_name=user.get("name") or None,
                                  sender_details=_user_details(user))]
        if event == "unsubscribed":
            return [InboundStatus(sender_id=str(payload["user_id"]), reachable=False)]
        if event in RECEIPTS:
            reason = None
            if event == "failed":
                reason = ("Viber could not show the message on the customer’s device"
                          + (f" ({payload['desc']})." if payload.get("desc") else "."))
            return [InboundReceipt(message_external_id=str(payload["message_token"]),
                                   status=RECEIPTS[event],
                                   sender_id=str(payload["user_id"]) if payload.get("user_id")
                                   else None, reason=reason)]
        return []

    def _message(self, payload: dict) -> list:
        sender, message = payload["sender"], payload["message"]
        kind = message.get("type")
        token = str(payload["message_token"])
        text = message.get("text") or ""
        media = message.get("media")
        size = message.get("file_size") or message.get("size") or 0
        attachments = []
        if kind == "picture" and media:
            name = message.get("file_name") or f"photo_{token}.jpg"
            attachments.append(InboundAttachment(filename=name, mime=_mime(name, "image/jpeg"),
                                                 size=size, media_ref=media, is_image=True))
        elif kind == "video" and media:
            name = message.get("file_name") or f"video_{token}.mp4"
            attachments.append(InboundAttachment(filename=name, mime=_mime(name, "video/mp4"),
                                                 size=size, media_ref=media))
        elif kind == "file" and media:
            name = message.get("file_name") or "file"
            attachments.append(InboundAttachment(
                filename=name, mime=_mime(name, "application/octet-stream"), size=size,
                media_ref=media))
        elif kind == "sticker":
            if media:
                attachments.append(InboundAttachment(
                    filename=f"sticker_{message.get('sticker_id', token)}.png", mime="image/png",
                    size=0, media_ref=media, is_image=True))
            else:
                text = text or "[sticker]"
        elif kind == "url" and media:
            text = media if not text or text == media else f"{text}\n{media}"
        elif kind == "location" and message.get("location"):
            loc = message["location"]
            line = f"📍 https://www.openstreetmap.org/?mlat={loc['lat']}&mlon={loc['lon']}"
            if loc.get("address"):
                line = f"📍 {loc['address']}\n{line}"
            text = (text + "\n" if text else "") + line
        elif kind == "contact" and message.get("contact"):
            c = message["contact"]
            card = f"👤 {c.get('name') or ''} {c.get('phone_number') or ''}".strip()
            text = (text + "\n" if text else "") + card
        elif kind != "text" and not text:
            text = f"[{kind}]"  # a type we do not know yet: never drop what the customer sent
        sender_id = str(sender["id"])
        details = _user_details(sender)
        return [
            InboundMessage(sender_id=sender_id, external_id=token,
                           sent_at=_from_ms(payload.get("timestamp")), text=text,
                           sender_name=sender.get("name") or None, attachments=attachments,
                           sender_details=details),
            # Writing subscribes the user, and Viber sends no "subscribed" for it.
            InboundStatus(sender_id=sender_id, reachable=True),
        ]

    def avatar(self, sender_id: str, details: dict) -> bytes | None:
        """Viber sends the avatar's address with every message from the user."""
        url = (details or {}).get("avatar_url")
        return self.download(url) if url else None

    def download(self, media_ref: str) -> bytes:
        """Inbound media: a plain GET of the link Viber gave (no token; it expires in
        about an hour, so this runs when the message arrives)."""
        if urlsplit(media_ref).scheme not in ("http", "https"):
            raise ChannelError("The file link from Viber is not a web address.", permanent=True)
        limit = self.max_download_size
        too_large = f"The file is larger than {limit // (1024 * 1024)} MB."
        try:
            with self.http.get(media_ref, stream=True, timeout=(5, 120)) as resp:
                if resp.status_code in (403, 404, 410):
                    raise ChannelError("The file link from Viber has expired.", permanent=True)
                if resp.status_code >= 500 or resp.status_code == 429:
                    raise ChannelError(f"Viber’s file server answered HTTP {resp.status_code}.",
                                       retry_after=10)
                if resp.status_code >= 400:
                    raise ChannelError(f"Viber’s file server answered HTTP {resp.status_code}.",
                                       permanent=True)
                if int(resp.headers.get("Content-Length") or 0) > limit:
                    raise ChannelError(too_large, permanent=True)
                chunks, total = [], 0
                for chunk in resp.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > limit:
                        raise ChannelError(too_large, permanent=True)
                    chunks.append(chunk)
        except requests.RequestException as exc:
            raise ChannelError("The file could not be downloaded from Viber.",
                               retry_after=10) from exc
        return b"".join(chunks)

    # -- outbound ----------------------------------------------------------------------
    def check_outbound(self, text: str, attachment) -> str | None:
        """A readable reason why this message cannot go to Viber, or None."""
        if len(text or "") > self.max_text_length:
            return _("Viber takes at most %(n)s characters per message.", n=self.max_text_length)
        if attachment is not None:
            if attachment.size > self.max_file_size:
                return _("Viber takes files of at most %(mb)s MB.",
                         mb=self.max_file_size // (1024 * 1024))
            ext = _ext(attachment.filename)
            if ext in FORBIDDEN_EXTENSIONS:
                return _("Viber does not deliver %(ext)s files.", ext=ext)
        return None

    def send(self, outbound: OutboundMessage) -> SendResult:
        """The attachment first, then the text (unless it fits as the picture's caption):
        if the attachment fails, nothing was sent and a retry repeats nothing."""
        text = outbound.text or ""
        last = None
        for att in outbound.attachments:
            refusal = self._refusal(text, att)
            if refusal:
                raise ChannelError(refusal, permanent=True)
            if self._as_picture(att):
                caption = text if len(text) <= self.max_caption_length else ""
                last = self._send(outbound.recipient_id, {
                    "type": "picture", "text": caption, "media": _with_name(att.url, _picture_name(att))})
                if caption:
                    text = ""
            else:
                name = _file_name(att)
                last = self._send(outbound.recipient_id, {
                    "type": "file", "media": _with_name(att.url, name), "size": att.size,
                    "file_name": name})
        if text:
            if len(text) > self.max_text_length:
                raise ChannelError(self._refusal(text, None), permanent=True)
            last = self._send(outbound.recipient_id, {"type": "text", "text": text})
        if last is None:
            raise ChannelError("There is nothing to send.", permanent=True)
        return SendResult(external_id=str(last["message_token"]))

    def _refusal(self, text: str, attachment) -> str | None:
        # Delivery runs in the worker, outside any request: reasons are stored in English
        # like the provider's own.
        with force_locale("en"):
            return self.check_outbound(text, attachment)

    def _send(self, receiver: str, body: dict) -> dict:
        return self.call("send_message", {"receiver": receiver,
                                           "sender": {"name": self._sender_name()}, **body})

    def _sender_name(self) -> str:
        name = (self.settings.get("bot_name") or self.settings.get("bot_username") or "").strip()
        return (name or "Support")[:self.max_sender_name]

    def _as_picture(self, att) -> bool:
        return att.is_image and att.mime in PICTURE_TYPES and att.size <= self.max_picture_size


def _is_handshake(raw_body: bytes) -> bool:
    try:
        payload = json.loads(raw_body)
    except ValueError:
        return False
    return (isinstance(payload, dict) and payload.get("event") == "webhook"
            and set(payload) <= HANDSHAKE_KEYS)


def _user_details(user: dict) -> dict:
    return {key: user[src] for src, key in (("avatar", "avatar_url"), ("language", "language"),
                                            ("country", "country")) if user.get(src)}


def _sender_id(payload: dict) -> str | None:
    for key in ("sender", "user"):
        if isinstance(payload.get(key), dict) and payload[key].get("id"):
            return str(payload[key]["id"])
    return str(payload["user_id"]) if payload.get("user_id") else None


def _from_ms(value) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


def _ext(name: str) -> str:
    return os.path.splitext(name or "")[1].lower()


def _mime(name: str, default: str) -> str:
    return mimetypes.guess_type(name)[0] or default


def _picture_name(att) -> str:
    """Viber reads a picture's format from the link's last segment."""
    if _ext(att.filename) in PICTURE_EXTENSIONS:
        return att.filename
    return os.path.splitext(att.filename)[0] + PICTURE_TYPES[att.mime]


def _file_name(att) -> str:
    """Viber wants an extension on a file's link and name: add one from the type."""
    if _ext(att.filename):
        return att.filename
    ext = mimetypes.guess_extension(att.mime or "") or ".dat"
    return (att.filename or "file") + (".dat" if ext in FORBIDDEN_EXTENSIONS else ext)


def _with_name(url: str, name: str) -> str:
    """Our public file links end in a name the server ignores (only the signed token
    counts): put the name Viber should see there."""
    base, _sep, last = url.rpartition("/")
    return url if last == quote(name) else f"{base}/{quote(name)}"
