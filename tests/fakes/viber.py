"""A fake Viber REST Bot API (``https://chatapi.viber.com/pa``) for tests.

One threaded HTTP server on 127.0.0.1 plays Viber for any number of bots:

- ``POST {base_url}/<endpoint>`` answers like chatapi.viber.com: HTTP 200 with
  ``{"status": N, "status_message": ...}``. The token comes from the ``X-Viber-Auth-Token`` header
  or, as the official viberbot SDK sends it, from ``auth_token`` in the JSON body.
- ``set_webhook`` POSTs the signed ``{"event": "webhook", ...}`` check to the URL and fails with
  status 1 unless it answers HTTP 200, as Viber does.
- ``send_message`` validates the body against the documented limits, refuses receivers that are
  not subscribed, and GETs every media URL (loopback only) to prove the console really hosts it.
- Builders make callbacks shaped like real traffic (epoch-ms timestamps, 64-bit ``message_token``,
  ``chat_hostname``, ASCII-escaped JSON with upper-case ``\\uXXXX``), and ``deliver`` POSTs them
  with ``X-Viber-Content-Signature`` = hex HMAC-SHA256 of the exact body, keyed with the token.

Building an event is the user doing something on Viber, so builders change state: a message or a
``subscribed`` event subscribes the user, ``unsubscribed`` unsubscribes. Delivering only tells the
console. Sources and the guesses made where Viber documents nothing are in the module constants.
"""
import base64
import hashlib
import hmac
import itertools
import json
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

# Status codes (creators.viber.com "Common Errors"). The strings are the old developers.viber.com
# names except 6, where real responses say "notSubscribed" (Bogdaan/viber-bot-php#22), and 12,
# spelled as in the send_message page's example.
STATUS_MESSAGES = {
    0: "ok", 1: "invalidUrl", 2: "invalidAuthToken", 3: "badData", 4: "missingData",
    5: "receiverNotRegistered", 6: "notSubscribed", 7: "publicAccountBlocked",
    8: "publicAccountNotFound", 9: "publicAccountSuspended", 10: "webhookNotSet",
    11: "receiverNoSuitableDevice", 12: "Too many requests", 13: "apiVersionNotSupported",
    14: "incompatibleWithVersion", 15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed", 17: "publicAccountIsNotInline", 18: "noPublicChat",
    19: "cannotSendBroadcast", 20: "broadcastNotAllowed", 21: "unsupportedCountry",
    22: "paymentUnsupported", 23: "freeMessagesExceeded", 24: "noBalance",
}
MISSING_AUTH_TOKEN = "missing_auth_token"  # the documented message when no token is sent

MANDATORY_EVENTS = ("message", "subscribed", "unsubscribed")
OPTIONAL_EVENTS = ("delivered", "seen", "failed", "conversation_started")
# Accepted in event_types: clients also send "webhook" and "message", and real answers have
# included "client_status".
KNOWN_EVENT_TYPES = frozenset(MANDATORY_EVENTS + OPTIONAL_EVENTS + ("webhook", "client_status"))
# set_webhook without event_types means "all events"; this is the list echoed back (order guessed).
ALL_EVENT_TYPES = ["subscribed", "unsubscribed", "conversation_started", "delivered", "seen",
                   "failed", "message", "client_status"]

MESSAGE_TYPES = ("text", "picture", "video", "file", "location", "contact", "sticker", "url",
                 "rich_media")
MAX_BODY = 30 * 1024
MAX_TEXT = 7000
MAX_PICTURE_TEXT = 768
MAX_SENDER_NAME = 28
MAX_TRACKING_DATA = 4000
MAX_VIDEO_SIZE = 27262976
MAX_VIDEO_DURATION = 180
MAX_FILE_SIZE = 52428800
MAX_FILE_NAME = 256
MAX_URL_MEDIA = 2000
MAX_CONTACT_NAME = 28
MAX_PHONE = 18
MAX_ONLINE_IDS = 100
MAX_UNANSWERED_PER_HOUR = 100
PICTURE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".gif")
FORBIDDEN_EXTENSIONS = frozenset(
    ".bat .bin .cmd .com .cpl .exe .gadget .inf1 .ins .inx .isu .job .jse .lnk .msc .msi .msp .mst"
    " .paf .pif .ps1 .reg .rgs .sct .shb .shs .u3p .vb .vbe .vbs .vbscript .ws .wsf"
    " .action .app .command .csh .osx .workflow .ksh .out .run .apk .ipa".split())
ONLINE_STATUS = {0: "online", 1: "offline", 2: "undisclosed", 3: "tryLater", 4: "unavailable"}
# Viber sends "placeholder values" when send_name/send_photo are off; their exact form is
# undocumented. The fake replaces the name with this and drops the avatar.
PLACEHOLDER_NAME = "Subscriber"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class MediaFetch:
    url: str
    http_status: int | None = None
    content_type: str | None = None
    length: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass
class Call:
    token: str | None
    endpoint: str
    body: dict
    status: int | None
    response: dict | str
    http_status: int = 200
    method: str = "POST"
    raw: bytes = b""
    headers: dict = field(default_factory=dict)
    media_fetches: list = field(default_factory=list)


@dataclass
class Delivery:
    token: str
    url: str
    event: dict
    raw: bytes
    signature: str | None
    http_status: int | None = None
    response_body: bytes = b""
    error: str | None = None
    welcome: dict | None = None          # the welcome message a conversation_started reply carried
    welcome_status: int | None = None    # the status send_message would give it (0 = valid)


class _Bot:
    def __init__(self, token, account, chat_hostname):
        self.token = token
        self.account = account
        self.chat_hostname = chat_hostname
        self.webhook = None              # {"url", "event_types", "send_name", "send_photo"}
        self.known = set()               # user ids that ever interacted with this bot
        self.subscribed = set()
        self.tracking = {}               # user id -> tracking_data of the last message sent
        self.sends = defaultdict(list)   # user id -> send times since the user's last message
        self.last_user_message = {}      # user id -> time of the user's last message
        self.detail_lookups = defaultdict(list)


def encode(event: dict) -> bytes:
    """Serialise like Viber: compact, ASCII-only, upper-case \\uXXXX escapes, '/' unescaped."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=True)
    return re.sub(r"\\(u[0-9a-f]{4}|.)",
                  lambda m: "\\" + (m.group(1).upper().replace("U", "u", 1)
                                    if len(m.group(1)) == 5 else m.group(1)),
                  text).encode("ascii")


def sign(token: str, raw: bytes) -> str:
    return hmac.new(token.encode("ascii"), raw, hashlib.sha256).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_user_id() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def _ext(path: str) -> str:
    last = unquote(path.rsplit("/", 1)[-1])
    return "." + last.rsplit(".", 1)[-1].lower() if "." in last else ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# Loopback traffic only, so environment proxies never apply. Viber judges the webhook check by the
# status of the first answer, so redirects are not followed there.
_callback_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
_media_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeViber:
    """Threaded fake of chatapi.viber.com on 127.0.0.1; see the module docstring."""

    def __init__(self):
        self.allow_http_webhooks = False   # Viber requires https with a trusted certificate
        self.fetch_media = True
        self.media_hosts = set(LOOPBACK_HOSTS)   # media on other hosts counts as unreachable
        self.require_webhook_for_send = True     # status 10 webhookNotSet otherwise
        self.user_details_limit = 2              # per user per 12 hours
        self.webhook_failure_style = "modern"    # "legacy": Jetty-style status_message
        self.callback_timeout = 10.0
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.media_downloads: list[str] = []
        self._lock = threading.RLock()
        self._bots: dict[str, _Bot] = {}
        self._users: dict[str, dict] = {}
        self._deregistered: set[str] = set()
        self._online: dict[str, int] = {}
        self._failures: dict[str, list] = defaultdict(list)
        self._media: dict[str, tuple] = {}
        self._tokens = itertools.count(5_700_000_000_000_000_000 + random.randrange(10**15), 7919)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/pa"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # ---- set-up and inspection -------------------------------------------------------------

    def add_bot(self, token, name="Shop", uri="shopbot", icon=None, bot_id=None) -> dict:
        account = {
            "id": bot_id or f"pa:{random.randrange(10**19, 10**20)}",
            "name": name,
            "uri": uri,
            "icon": icon or self.serve_media(_tiny_jpeg(), "image/jpeg", f"{uri}-icon.jpg"),
            "background": self.serve_media(_tiny_jpeg(), "image/jpeg", f"{uri}-background.jpg"),
            "category": "Companies",
            "subcategory": "Shopping",
            "location": {"lon": 30.5234, "lat": 50.4501},
            "country": "UA",
        }
        with self._lock:
            self._bots[token] = _Bot(token, account, f"SN-CHAT-{random.randrange(1, 30):02d}_")
            return self._account_info(self._bots[token])

    def webhook(self, token) -> dict | None:
        with self._lock:
            wh = self._bot(token).webhook
            return dict(wh) if wh else None

    def calls_to(self, endpoint, token=None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls
                    if c.endpoint == endpoint and (token is None or c.token == token)]

    def fail_next(self, endpoint, status=None, failed_status_message=None, times=1,
                  http_status=200):
        """The next `times` calls to `endpoint` (any bot) fail before any other processing.

        With HTTP 200 the body is the usual envelope with `status`. With another HTTP status the
        body is that envelope if `status` is given, else an HTML error page like a proxy's.
        """
        with self._lock:
            self._failures[endpoint].extend([(status, failed_status_message, http_status)] * times)

    def user(self, id=None, name="Anna", avatar=None, language="en", country="UA",
             api_version=10) -> dict:
        profile = {"id": id or _new_user_id(), "name": name}
        if avatar is not None:
            profile["avatar"] = avatar   # users without a photo arrive without the key
        profile.update(language=language, country=country, api_version=api_version)
        with self._lock:
            self._users[profile["id"]] = profile
        return dict(profile)

    def subscribe(self, token, user):
        with self._lock:
            bot, uid = self._bot(token), self._ensure_user(user)
            bot.known.add(uid)
            bot.subscribed.add(uid)

    def unsubscribe(self, token, user):
        with self._lock:
            bot, uid = self._bot(token), self._uid(user)
            bot.subscribed.discard(uid)
            bot.tracking.pop(uid, None)

    def is_subscribed(self, token, user) -> bool:
        with self._lock:
            return self._uid(user) in self._bot(token).subscribed

    def deregister(self, user):
        """The user left Viber: sends to them answer status 5 receiverNotRegistered."""
        with self._lock:
            self._deregistered.add(self._uid(user))

    def set_online(self, user, online_status: int):
        with self._lock:
            self._online[self._uid(user)] = online_status

    def serve_media(self, data: bytes, content_type, name) -> str:
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._media[key] = (data, content_type)
        return f"{self.root}/media/{key}/{quote(name)}"

    def expire_media(self, url):
        """Inbound media links expire (about an hour on Viber); afterwards they answer 404."""
        key = urlsplit(url).path.split("/")[2]
        with self._lock:
            self._media.pop(key, None)

    def new_message_token(self) -> int:
        with self._lock:
            return next(self._tokens)

    # ---- callback builders -----------------------------------------------------------------

    def webhook_event(self, token) -> dict:
        return {"event": "webhook", "timestamp": _now_ms(),
                "chat_hostname": self._bot(token).chat_hostname,
                "message_token": self.new_message_token()}

    def message_event(self, token, user, text=None, media_type="text", media_url=None,
                      file_name=None, size=None, location=None, contact=None, sticker_id=None,
                      *, thumbnail=None, duration=None, tracking_data=...) -> dict:
        """A user's message. Sizes use the inbound name `file_size`; media is served by the fake
        when no URL is given. tracking_data defaults to what the bot last sent this user."""
        if media_type not in ("text", "picture", "video", "file", "sticker", "contact",
                              "location", "url"):
            raise ValueError(f"unknown Viber message type {media_type!r}")
        with self._lock:
            bot, uid = self._bot(token), self._ensure_user(user)
            if tracking_data is ...:
                tracking_data = bot.tracking.get(uid)
            bot.known.add(uid)
            bot.subscribed.add(uid)   # a first message subscribes, without a subscribed callback
            bot.sends.pop(uid, None)
            bot.last_user_message[uid] = time.time()
            sender = self._profile_for(bot, uid)
        message = self._inbound_message(media_type, text, media_url, file_name, size, location,
                                        contact, sticker_id, thumbnail, duration)
        if tracking_data is not None:
            message["tracking_data"] = tracking_data
        return {"event": "message", "timestamp": _now_ms(), "chat_hostname": bot.chat_hostname,
                "message_token": self.new_message_token(), "sender": sender, "message": message,
                "silent": False}

    def subscribed_event(self, token, user) -> dict:
        with self._lock:
            bot, uid = self._bot(token), self._ensure_user(user)
            bot.known.add(uid)
            bot.subscribed.add(uid)
            bot.tracking.pop(uid, None)   # a subscribe starts a new conversation
            profile = self._profile_for(bot, uid)
        return {"event": "subscribed", "timestamp": _now_ms(), "chat_hostname": bot.chat_hostname,
                "user": profile, "message_token": self.new_message_token()}

    def unsubscribed_event(self, token, user) -> dict:
        uid = self._uid(user)
        self.unsubscribe(token, uid)
        return {"event": "unsubscribed", "timestamp": _now_ms(),
                "chat_hostname": self._bot(token).chat_hostname, "user_id": uid,
                "message_token": self.new_message_token()}

    def conversation_started_event(self, token, user, context=None, subscribed=None,
                                   type="open") -> dict:
        with self._lock:
            bot, uid = self._bot(token), self._ensure_user(user)
            bot.known.add(uid)
            if subscribed is None:
                subscribed = uid in bot.subscribed
            profile = self._profile_for(bot, uid)
        event = {"event": "conversation_started", "timestamp": _now_ms(),
                 "chat_hostname": bot.chat_hostname, "message_token": self.new_message_token(),
                 "type": type}
        if context is not None:   # only deep links viber://pa?chatURI=..&context=.. carry one
            event["context"] = context
        event.update(user=profile, subscribed=subscribed)
        return event

    def delivered_event(self, message_token, user_id) -> dict:
        return self._receipt("delivered", message_token, user_id)

    def seen_event(self, message_token, user_id) -> dict:
        return self._receipt("seen", message_token, user_id)

    def failed_event(self, message_token, user_id, desc="message validation failed") -> dict:
        event = self._receipt("failed", message_token, user_id)
        event["desc"] = desc
        return event

    # ---- delivering callbacks --------------------------------------------------------------

    def deliver(self, token, event, signature=None, *, retries=0) -> int | None:
        """POST `event` (a dict, or raw bytes) to the bot's webhook; return the HTTP status.

        signature None signs correctly, "" omits the header, anything else is sent as is.
        Returns None, sending nothing, when the webhook did not subscribe to this optional
        event type. `retries` re-sends the same bytes while the answer is not 200, as Viber
        does for about an hour. A connection failure returns 0.
        """
        raw = event if isinstance(event, bytes) else encode(event)
        parsed = json.loads(raw)
        with self._lock:
            wh = self._bot(token).webhook
        if wh is None:
            raise RuntimeError(f"bot {token[:6]}… has no webhook; call set_webhook first")
        if not self._wants(wh, parsed.get("event")):
            return None
        sig = sign(token, raw) if signature is None else signature
        status = None
        for _ in range(retries + 1):
            d = self._post_callback(token, wh["url"], parsed, raw, sig)
            status = d.http_status or 0
            if status == 200:
                break
        return status

    # ---- internals: state ------------------------------------------------------------------

    def _bot(self, token) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError(f"no fake Viber bot with token {token!r}; call add_bot first") from None

    @staticmethod
    def _uid(user) -> str:
        return user["id"] if isinstance(user, dict) else str(user)

    def _ensure_user(self, user) -> str:
        if isinstance(user, dict):
            if user["id"] not in self._users:
                self._users[user["id"]] = dict(user)
            return user["id"]
        if user not in self._users:
            self.user(id=user)
        return user

    def _profile_for(self, bot, uid) -> dict:
        profile = dict(self._users[uid])
        wh = bot.webhook
        if wh is not None:
            if not wh["send_name"]:
                profile["name"] = PLACEHOLDER_NAME
            if not wh["send_photo"]:
                profile.pop("avatar", None)
        return profile

    def _receipt(self, kind, message_token, user_id) -> dict:
        return {"event": kind, "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-02_",
                "message_token": int(message_token), "user_id": self._uid(user_id)}

    def _inbound_message(self, media_type, text, media_url, file_name, size, location, contact,
                         sticker_id, thumbnail, duration) -> dict:
        # Field names from the old "Receive message from user" table; "type" goes last, as in
        # captured traffic ({"text": "Msg", "type": "text", "tracking_data": "…"}).
        if media_type == "text":
            message = {"text": "Hello" if text is None else text}
        elif media_type == "url":
            message = {"media": media_url or text or "https://example.com/"}
        elif media_type == "location":
            message = {"location": location or {"lat": 50.4501, "lon": 30.5234}}
        elif media_type == "contact":
            message = {"contact": contact or {"name": "Ivan", "phone_number": "+380501234567"}}
        elif media_type == "sticker":
            sid = int(sticker_id if sticker_id is not None else 40129)
            message = {"sticker_id": sid, "media": media_url or self.serve_media(
                _tiny_png(), "image/png", f"{sid}.png")}
        else:
            make, ctype, default_name = {
                "picture": (_tiny_jpeg, "image/jpeg", "photo.jpg"),
                "video": (lambda: b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4",
                          "video.mp4"),
                "file": (lambda: b"%PDF-1.4\n%fake\n", "application/pdf", "document.pdf"),
            }[media_type]
            if media_url is None:
                data = make()
                media_url = self.serve_media(data, ctype, file_name or default_name)
                if size is None and media_type == "file":
                    size = len(data)
            message = {"media": media_url}
            if media_type == "picture":
                message = {"text": text or "", "media": media_url,
                           "thumbnail": thumbnail or media_url}
            elif media_type == "video":
                message["thumbnail"] = thumbnail or self.serve_media(
                    _tiny_jpeg(), "image/jpeg", "thumb.jpg")
                if duration is not None:
                    message["duration"] = duration
            if media_type == "file" or file_name is not None:
                message["file_name"] = file_name or default_name
            if size is not None:
                message["file_size"] = size   # the inbound name; outbound bodies say "size"
        if text and "text" not in message:
            message["text"] = text
        message["type"] = media_type
        return message

    @staticmethod
    def _wants(webhook, kind) -> bool:
        if kind not in OPTIONAL_EVENTS or webhook["event_types"] is None:
            return True
        return kind in webhook["event_types"]

    def _account_info(self, bot) -> dict:
        info = dict(bot.account)
        if bot.webhook is not None:   # no webhook: the keys are left out (unconfirmed)
            info["webhook"] = bot.webhook["url"]
            info["event_types"] = self._effective_event_types(bot.webhook["event_types"])
        info["subscribers_count"] = len(bot.subscribed)
        info["members"] = [{"id": "01234567890A=", "name": "Admin", "role": "admin"}]
        return info

    @staticmethod
    def _effective_event_types(requested):
        return list(ALL_EVENT_TYPES) if requested is None else list(requested)

    # ---- internals: outbound HTTP (never under the lock) -----------------------------------

    def _post_callback(self, token, url, event, raw, sig) -> Delivery:
        headers = {"Content-Type": "application/json"}
        if sig:
            headers["X-Viber-Content-Signature"] = sig
        d = Delivery(token=token, url=url, event=event, raw=raw, signature=sig or None)
        req = urllib.request.Request(url, data=raw, headers=headers, method="POST")
        try:
            with _callback_opener.open(req, timeout=self.callback_timeout) as resp:
                d.http_status, d.response_body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            d.http_status, d.response_body = e.code, e.read()
        except (OSError, ValueError) as e:
            d.error = f"{type(e).__name__}: {e}"
        if event.get("event") == "conversation_started" and d.http_status == 200:
            self._check_welcome(d)
        with self._lock:
            self.deliveries.append(d)
        return d

    def _check_welcome(self, d):
        if not d.response_body.strip():
            return
        try:
            d.welcome = json.loads(d.response_body)
        except ValueError:
            d.welcome_status = 3
            return
        status = self._validate_message(d.welcome, need_receiver=False)
        if status == 0:
            status, _ = self._fetch_all(d.welcome)
        d.welcome_status = status

    def _fetch(self, url) -> MediaFetch:
        f = MediaFetch(url=url)
        host = urlsplit(url).hostname or ""
        if host not in self.media_hosts:
            f.error = f"host {host!r} is not reachable from the fake (allowed: media_hosts)"
            return f
        try:
            with _media_opener.open(url, timeout=self.callback_timeout) as resp:
                data = resp.read(MAX_FILE_SIZE + 1)
                f.http_status, f.content_type, f.length = (
                    resp.status, resp.headers.get("Content-Type"), len(data))
        except urllib.error.HTTPError as e:
            f.http_status, f.error = e.code, f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            f.error = f"{type(e).__name__}: {e}"
        return f

    def _fetch_all(self, body) -> tuple[int, list]:
        fetches = []
        if not self.fetch_media or body.get("type") not in ("picture", "video", "file"):
            return 0, fetches
        for key in ("media", "thumbnail"):
            if body.get(key):
                fetches.append(self._fetch(body[key]))
                if not fetches[-1].ok:
                    return 1, fetches
        return 0, fetches

    # ---- internals: the API ----------------------------------------------------------------

    def _handle_api(self, method, endpoint, raw, headers) -> tuple[int, object, Call]:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        token = headers.get("X-Viber-Auth-Token") or (
            body.get("auth_token") if isinstance(body, dict) else None)
        call = Call(token=token, endpoint=endpoint, body=body if isinstance(body, dict) else {},
                    status=None, response={}, method=method, raw=raw, headers=dict(headers))
        with self._lock:
            injected = self._failures[endpoint].pop(0) if self._failures[endpoint] else None
        if injected is not None:
            return self._injected(call, *injected)
        if token is None:
            return self._answer(call, 2, MISSING_AUTH_TOKEN)
        with self._lock:
            bot = self._bots.get(token)
        if bot is None:
            return self._answer(call, 2)
        if body is None or not isinstance(body, dict) or len(raw) > MAX_BODY:
            return self._answer(call, 3)
        handler = getattr(self, f"_api_{endpoint}")
        return handler(bot, call)

    def _answer(self, call, status, status_message=None, **extra):
        response = {"status": status}
        if status_message is not False:
            response["status_message"] = status_message or STATUS_MESSAGES.get(status, "failure")
        response.update(extra)
        call.status, call.response = status, response
        with self._lock:
            self.calls.append(call)
        return 200, response, call

    def _injected(self, call, status, message, http_status):
        if http_status == 200 or status is not None:
            response = {"status": status if status is not None else 3,
                        "status_message": message or STATUS_MESSAGES.get(status, "failure")}
            if call.endpoint == "send_message":
                response.update(message_token=self.new_message_token(),
                                chat_hostname="SN-CHAT-05_")
        else:
            response = (f"<html><head><title>{http_status}</title></head><body>"
                        f"<h1>{http_status} {message or 'Service Unavailable'}</h1></body></html>")
        call.status, call.response, call.http_status = status, response, http_status
        with self._lock:
            self.calls.append(call)
        return http_status, response, call

    def _api_set_webhook(self, bot, call):
        body = call.body
        if "url" not in body:
            return self._answer(call, 4)
        url, event_types = body["url"], body.get("event_types")
        if not isinstance(url, str):
            return self._answer(call, 3)
        if url == "":
            with self._lock:
                bot.webhook = None
            return self._answer(call, 0, event_types=[])
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http_webhooks else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            return self._answer(call, 1)
        if event_types is not None and (
                not isinstance(event_types, list)
                or not all(isinstance(e, str) and e in KNOWN_EVENT_TYPES for e in event_types)):
            return self._answer(call, 3)
        flags = {k: body.get(k, False) for k in ("send_name", "send_photo")}
        if not all(isinstance(v, bool) for v in flags.values()):
            return self._answer(call, 3)
        check = {"event": "webhook", "timestamp": _now_ms(), "chat_hostname": bot.chat_hostname,
                 "message_token": self.new_message_token()}
        raw = encode(check)
        d = self._post_callback(bot.token, url, check, raw, sign(bot.token, raw))
        if d.http_status != 200:
            if self.webhook_failure_style == "legacy":
                got = (f"HttpResponse[HTTP/1.1 {d.http_status}]" if d.http_status
                       else f"HttpResponse[null 0 null] {d.error}")
                message = f"Result[HttpRequest[POST {parts.path or '/'} HTTP/1.1] > {got}]"
                return self._answer(call, 1, message, chat_hostname=bot.chat_hostname)
            # What Viber answers today: status 1 and no status_message at all.
            return self._answer(call, 1, False, chat_hostname=bot.chat_hostname)
        if event_types is not None:
            event_types = list(dict.fromkeys(event_types))
        with self._lock:
            bot.webhook = {"url": url, "event_types": event_types, **flags}
        return self._answer(call, 0, event_types=self._effective_event_types(event_types))

    def _api_get_account_info(self, bot, call):
        with self._lock:
            info = self._account_info(bot)
        return self._answer(call, 0, **info)

    def _api_get_user_details(self, bot, call):
        uid = call.body.get("id")
        if uid is None:
            return self._answer(call, 4)
        if not isinstance(uid, str):
            return self._answer(call, 3)
        now = time.time()
        with self._lock:
            if uid not in bot.known or uid in self._deregistered:
                return self._answer(call, 5)
            lookups = [t for t in bot.detail_lookups[uid] if now - t < 12 * 3600]
            if self.user_details_limit is not None and len(lookups) >= self.user_details_limit:
                bot.detail_lookups[uid] = lookups
                return self._answer(call, 12)
            bot.detail_lookups[uid] = lookups + [now]
            p = self._users[uid]
        user = {"id": uid, "name": p["name"]}
        if "avatar" in p:
            user["avatar"] = p["avatar"]
        user.update(country=p["country"], language=p["language"],
                    primary_device_os="Android 14", api_version=p["api_version"],
                    viber_version="24.8.0.0", mcc=255, mnc=1, device_type="SM-A546B")
        return self._answer(call, 0, message_token=self.new_message_token(), user=user)

    def _api_get_online(self, bot, call):
        ids = call.body.get("ids")
        if ids is None:
            return self._answer(call, 4)
        if (not isinstance(ids, list) or not ids or len(ids) > MAX_ONLINE_IDS
                or not all(isinstance(i, str) for i in ids)):
            return self._answer(call, 3)
        with self._lock:
            states = [self._online.get(i, 1) if i in bot.subscribed else 4 for i in ids]
        users = [{"id": i, "online_status": s, "online_status_message": ONLINE_STATUS[s]}
                 for i, s in zip(ids, states)]
        return self._answer(call, 0, users=users)

    def _api_send_message(self, bot, call):
        body = call.body
        extra = lambda: {"message_token": self.new_message_token(),  # noqa: E731
                         "chat_hostname": bot.chat_hostname}
        status = self._validate_message(body, need_receiver=True)
        if status:
            return self._answer(call, status, **extra())
        uid = body["receiver"]
        now = time.time()
        with self._lock:
            if self.require_webhook_for_send and bot.webhook is None:
                return self._answer(call, 10, **extra())
            if uid not in self._users or uid in self._deregistered:
                return self._answer(call, 5, **extra())
            if uid not in bot.subscribed:
                return self._answer(call, 6, **extra())
            if (body.get("min_api_version") or 1) > self._users[uid].get("api_version", 1):
                return self._answer(call, 13, **extra())
            recent = [t for t in bot.sends[uid] if now - t < 3600]
            if len(recent) >= MAX_UNANSWERED_PER_HOUR:
                bot.sends[uid] = recent
                return self._answer(call, 12, **extra())
        status, call.media_fetches = self._fetch_all(body)
        if status:   # a strictness of the fake: Viber itself may accept and fail on the device
            return self._answer(call, status, **extra())
        with self._lock:
            bot.sends[uid] = recent + [now]
            bot.tracking[uid] = body.get("tracking_data")
            last = bot.last_user_message.get(uid)
            billing = 1 if last is not None and now - last < 24 * 3600 else 3
        return self._answer(call, 0, **extra(), billing_status=billing)

    @staticmethod
    def _validate_message(body, need_receiver) -> int:
        """The status Viber gives a send_message body for its shape alone; 0 when valid."""
        missing = lambda *keys: any(body.get(k) in (None, "") for k in keys)  # noqa: E731
        if need_receiver and missing("receiver"):
            return 4
        if need_receiver and not isinstance(body["receiver"], str):
            return 3
        kind, sender = body.get("type"), body.get("sender")
        if kind is None:
            return 4
        if kind not in MESSAGE_TYPES:
            return 3
        if not isinstance(sender, dict) or sender.get("name") in (None, ""):
            return 4
        if not isinstance(sender["name"], str) or len(sender["name"]) > MAX_SENDER_NAME:
            return 3
        if sender.get("avatar") is not None and not _is_http_url(sender["avatar"]):
            return 3
        tracking, version = body.get("tracking_data"), body.get("min_api_version")
        if tracking is not None and (not isinstance(tracking, str)
                                     or len(tracking) > MAX_TRACKING_DATA):
            return 3
        if version is not None and not (_is_int(version) and version >= 1):
            return 3
        return _TYPE_CHECKS[kind](body, missing)

    # ---- internals: media ------------------------------------------------------------------

    def _media_response(self, path) -> tuple[int, bytes, str]:
        parts = path.split("/")
        with self._lock:
            item = self._media.get(parts[2]) if len(parts) > 3 else None
            self.media_downloads.append(path)
        if item is None:
            return 404, b"Not Found", "text/plain"
        return 200, item[0], item[1]


def _check_text(body, missing):
    if missing("text"):
        return 4
    return 0 if isinstance(body["text"], str) and len(body["text"]) <= MAX_TEXT else 3


def _check_picture(body, missing):
    # text is required for pictures but may be ""; media's last path segment names the format
    if body.get("text") is None or missing("media"):
        return 4
    if not isinstance(body["text"], str) or len(body["text"]) > MAX_PICTURE_TEXT:
        return 3
    if not _is_http_url(body["media"]) or _url_ext(body["media"]) not in PICTURE_EXTENSIONS:
        return 3
    return 3 if body.get("thumbnail") is not None and not _is_http_url(body["thumbnail"]) else 0


def _check_video(body, missing):
    if missing("media", "size"):
        return 4
    if not _is_http_url(body["media"]) or _url_ext(body["media"]) != ".mp4":
        return 3
    duration = body.get("duration")
    if not _is_size(body["size"], MAX_VIDEO_SIZE) or (
            duration is not None and not _is_size(duration, MAX_VIDEO_DURATION)):
        return 3
    return 3 if body.get("thumbnail") is not None and not _is_http_url(body["thumbnail"]) else 0


def _check_file(body, missing):
    if missing("media", "size", "file_name"):
        return 4
    name = body["file_name"]
    if not _is_http_url(body["media"]) or not _is_size(body["size"], MAX_FILE_SIZE):
        return 3
    if not isinstance(name, str) or len(name) > MAX_FILE_NAME:
        return 3
    media_ext = _url_ext(body["media"])   # files are named by their URL's last segment too
    if not media_ext or media_ext in FORBIDDEN_EXTENSIONS or _ext(name) in FORBIDDEN_EXTENSIONS:
        return 3
    return 0


def _check_location(body, missing):
    loc = body.get("location")
    if not isinstance(loc, dict) or loc.get("lat") is None or loc.get("lon") is None:
        return 4
    lat, lon = loc["lat"], loc["lon"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
        return 3
    return 0 if -90 <= lat <= 90 and -180 <= lon <= 180 else 3


def _check_contact(body, missing):
    c = body.get("contact")
    if not isinstance(c, dict) or c.get("name") in (None, "") \
            or c.get("phone_number") in (None, ""):
        return 4
    return 3 if len(str(c["name"])) > MAX_CONTACT_NAME \
        or len(str(c["phone_number"])) > MAX_PHONE else 0


def _check_sticker(body, missing):
    return 4 if missing("sticker_id") else 0


def _check_url(body, missing):
    if missing("media"):
        return 4
    return 0 if isinstance(body["media"], str) and len(body["media"]) <= MAX_URL_MEDIA else 3


def _check_rich_media(body, missing):
    rich = body.get("rich_media")
    if not isinstance(rich, dict):
        return 4
    buttons = rich.get("Buttons")
    return 0 if isinstance(buttons, list) and buttons else 3


_TYPE_CHECKS = {"text": _check_text, "picture": _check_picture, "video": _check_video,
                "file": _check_file, "location": _check_location, "contact": _check_contact,
                "sticker": _check_sticker, "url": _check_url, "rich_media": _check_rich_media}


def _url_ext(url: str) -> str:
    return _ext(urlsplit(url).path)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_http_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_size(value, limit) -> bool:
    return _is_int(value) and 0 <= value <= limit


def _tiny_png() -> bytes:
    return base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAF"
                            "BQIAX8jx0gAAAABJRU5ErkJggg==")


def _tiny_jpeg() -> bytes:
    return base64.b64decode(
        "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////"
        "////////////////////////////////wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAAA//EABQQAQAA"
        "AAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AN//Z")


def _handler_for(fake: FakeViber):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True   # headers and body go out in two writes

        def log_message(self, *args):
            pass

        def _send(self, status, payload, content_type="application/json; charset=UTF-8",
                  head=False):
            if isinstance(payload, (dict, list)):
                data = json.dumps(payload, separators=(",", ":")).encode()
            elif isinstance(payload, str):   # an injected proxy error page, or a plain 404/405
                data = payload.encode()
                content_type = ("text/html; charset=UTF-8" if payload.startswith("<html")
                                else "text/plain")
            else:
                data = payload
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _route(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path.startswith("/media/"):
                if method not in ("GET", "HEAD"):
                    return self._send(405, "Method Not Allowed")
                status, data, ctype = fake._media_response(path)
                return self._send(status, data, ctype, head=method == "HEAD")
            endpoint = path[len("/pa/"):] if path.startswith("/pa/") else None
            known = ("set_webhook", "send_message", "get_account_info", "get_user_details",
                     "get_online")
            if endpoint not in known:
                return self._send(404, "Not Found")
            if method != "POST" and not (method == "GET" and endpoint == "get_account_info"):
                return self._send(405, "Method Not Allowed")
            status, payload, _ = fake._handle_api(method, endpoint, raw, self.headers)
            self._send(status, payload)

        def do_GET(self):
            self._route("GET")

        def do_HEAD(self):
            self._route("HEAD")

        def do_POST(self):
            self._route("POST")

    return Handler
