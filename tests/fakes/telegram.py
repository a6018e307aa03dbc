"""A fake Telegram Bot API server (``https://api.telegram.org``) for tests.

One threaded HTTP server on 127.0.0.1 plays Telegram for any number of bots:

- ``{base_url}/bot<token>/<method>`` answers like api.telegram.org: ``{"ok": true, "result": ...}``
  or ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` with HTTP status
  ``N``. Parameters come as a query string, ``application/x-www-form-urlencoded``,
  ``application/json`` or ``multipart/form-data``; the server sees every one as a string, nested
  objects (``reply_markup``, ``allowed_updates``...) as JSON text, as the real server does.
- ``{base_url}/file/bot<token>/<file_path>`` serves files (the path is URL-decoded first: python-
  telegram-bot percent-encodes the ``:`` of the token).
- ``getMe``, ``setWebhook``/``deleteWebhook``/``getWebhookInfo``, ``getUpdates``, ``sendMessage``,
  ``sendPhoto``, ``sendDocument``, ``sendChatAction``, ``getFile`` and ``getUserProfilePhotos`` validate what they get and
  fail with Telegram's own descriptions, in Telegram's order of checks.
- Builders (``text_update``, ``photo_update``...) are the user doing something in Telegram: they
  register the chat, the files and the message, and queue the update as pending. ``deliver`` POSTs
  an update to the registered webhook with ``X-Telegram-Bot-Api-Secret-Token``, as Telegram does.

Sources. The wire facts come from the Bot API documentation (core.telegram.org/bots/api) and from
the source of Telegram's own Bot API server, tdlib/telegram-bot-api: ``Client.cpp`` (argument
parsing, error texts, webhook bookkeeping, ``getWebhookInfo`` fields), ``WebhookActor.cpp``
(webhook checks, delivery headers, ``last_error_message`` texts), ``Query.cpp`` (429 answers carry
``parameters.retry_after`` and a ``Retry-After`` header; method names are case-insensitive),
``Client.h`` (``MAX_DOWNLOAD_FILE_SIZE = 20 << 20``). Texts produced inside TDLib rather than the
Bot API server ("message is too long", "can't parse entities: ...", "wrong file identifier/HTTP
URL specified", "bot was blocked by the user") are taken from many real error reports. Where a
value is a guess, the constant or function says so.
"""
from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import itertools
import json
import mimetypes
import re
import secrets
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

# --- Limits ---------------------------------------------------------------------------------------
MAX_TEXT_LENGTH = 4096          # sendMessage: "Text of the message to be sent, 1-4096 characters
MAX_CAPTION_LENGTH = 1024       # after entities parsing"; captions "0-1024 characters" (docs)
MAX_RAW_TEXT_BYTES = 1 << 15    # Client::get_formatted_text: "Text is too long" before parsing
MAX_DOWNLOAD_SIZE = 20 << 20    # Client.h MAX_DOWNLOAD_FILE_SIZE; getFile: "file is too big"
MAX_CERTIFICATE_SIZE = 3 << 20  # Client.h MAX_CERTIFICATE_FILE_SIZE
# Upload limits: the docs say "10 MB" for photos and "50 MB" for other files (PTB FileSizeLimit
# writes them as 10e6/50e6). The server's own constants are binary (20 << 20 above), so binary
# megabytes are used here too; an adapter that checks the decimal values is safe either way.
MAX_PHOTO_UPLOAD = 10 << 20
MAX_FILE_UPLOAD = 50 << 20
MAX_PHOTO_BY_URL = 5 << 20      # docs: "5 MB max size for photos and 20 MB max for other types
MAX_FILE_BY_URL = 20 << 20      # of content" when sent by URL
MAX_REQUEST_BODY = MAX_FILE_UPLOAD + (1 << 20)  # past this the body is not read at all (413)
MAX_SECRET_TOKEN = 256
MAX_CALLBACK_DATA = 64          # InlineKeyboardButton.callback_data: 1-64 bytes
WEBHOOK_PORTS = (443, 80, 88, 8443)
URL_FETCH_TIMEOUT = 5.0

# The Update fields of Bot API 10.0 (python-telegram-bot 22.8 UpdateType; a test checks the two
# agree). An empty or unknown-only allowed_updates list means every type but DEFAULT_EXCLUDED.
UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost", "managed_bot", "guest_message",
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - DEFAULT_EXCLUDED_UPDATES

# sendChatAction: the documented actions plus the legacy names the server still maps.
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note", "record_audio", "upload_audio", "pick_up_location", "cancel",
})

# Error descriptions, exactly as Telegram words them.
E_UNAUTHORIZED = "Unauthorized"
E_NOT_FOUND = "Not Found"
E_TOO_LARGE = "Request Entity Too Large"
E_CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
E_CHAT_NOT_FOUND = "Bad Request: chat not found"
E_BLOCKED = "Forbidden: bot was blocked by the user"
E_TEXT_EMPTY = "Bad Request: message text is empty"
E_TEXT_TOO_LONG = "Bad Request: message is too long"
E_CAPTION_TOO_LONG = "Bad Request: message caption is too long"
E_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
E_URL_FAILED = "Bad Request: failed to get HTTP URL content"
E_URL_WRONG_TYPE = "Bad Request: wrong type of the web page content"
E_FILE_TOO_BIG = "Bad Request: file is too big"
E_INVALID_FILE_ID = "Bad Request: invalid file_id"
E_FILE_ID_EMPTY = "Bad Request: file_id not specified"
E_USER_ID_INVALID = "Bad Request: invalid user_id specified"
E_USER_NOT_FOUND = "Bad Request: user not found"
E_EMPTY_FILE = "Bad Request: file must be non-empty"
E_TYPE_MISMATCH = "Bad Request: type of file mismatch"
E_IMAGE_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"          # non-image bytes sent as a photo
E_PHOTO_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"  # w + h > 10000 or ratio > 20
E_PHOTO_TOO_BIG = "Bad Request: PHOTO_SAVE_FILE_INVALID"      # guess: the MTProto error, passed on
E_REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
E_WRONG_ACTION = "Bad Request: wrong parameter action in request"
E_WEBHOOK_CONFLICT = ("Conflict: can't use getUpdates method while webhook is active; "
                      "use deleteWebhook to delete the webhook first")
E_HTTPS_REQUIRED = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
E_WEBHOOK_PORT = "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
E_WEBHOOK_URL = "Bad Request: invalid webhook URL specified"
E_SECRET_TOO_LONG = "Bad Request: secret token is too long"
E_SECRET_CHARS = "Bad Request: secret token contains unallowed characters"

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+\Z")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]*\Z")

# File identifiers look like Telegram's: base64url, a type prefix, a 15-char unique id.
_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI", "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI", "video": "BAACAgIAAxkBAAI", "video_note": "DQACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI", "animation": "CgACAgIAAxkBAAI", "thumbnail": "AAMCAgADGQEAAg",
}
_UNIQUE_PREFIX = {"photo": "AQAD", "thumbnail": "AQAD"}
_FILE_DIR = {
    "photo": "photos", "document": "documents", "voice": "voice", "audio": "music",
    "video": "videos", "video_note": "video_notes", "sticker": "stickers",
    "animation": "animations", "thumbnail": "thumbnails",
}
_DIR_KIND = {v: k for k, v in _FILE_DIR.items()}
# Sides of the photo sizes Telegram makes ("s", "m", "x", "y", "w"); the original comes last.
_PHOTO_SIDES = (90, 320, 800, 1280, 2560)
_PROFILE_PHOTO_SIDES = (160, 320, 640)   # profile photos come square, in these sizes


class TelegramError(Exception):
    """A Bot API error answer. ``description`` is the full text, e.g. "Bad Request: ..."."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters or {}

    def body(self) -> dict:
        out = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(message: str) -> TelegramError:
    """``fail_query_with_error``'s rule: "Bad Request: " + message, first letter lowered unless the
    message starts like an upper-case code (``PHOTO_INVALID_DIMENSIONS``)."""
    if len(message) >= 2 and (message[1] == "_" or message[1].isupper()):
        return TelegramError(400, f"Bad Request: {message}")
    return TelegramError(400, f"Bad Request: {message[:1].lower()}{message[1:]}")


class NotDelivered(RuntimeError):
    """``deliver`` was asked for an update Telegram would not send to this webhook."""


@dataclass
class Call:
    """One request to the API, as the fake saw it. ``params`` are strings, as Telegram sees them
    whatever the encoding (JSON bodies too); ``json_param`` decodes a JSON-serialized one."""
    token: str
    method: str
    params: dict
    files: dict
    status: int
    response: dict
    http_method: str = "POST"
    content_type: str = ""
    headers: dict = field(default_factory=dict)

    def json_param(self, name: str, default=None):
        raw = self.params.get(name)
        return default if raw is None else json.loads(raw)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self):
        return self.response.get("result")


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    kind: str
    file_path: str
    size: int
    data: bytes | None
    meta: dict = field(default_factory=dict)   # mime_type, file_name, width, height...
    group: list | None = None                  # photos: every size of the same picture

    def info(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": self.size, "file_path": self.file_path}


@dataclass
class _Bot:
    token: str
    user: dict
    webhook: dict | None = None
    allowed: frozenset = DEFAULT_ALLOWED_UPDATES
    allowed_updates_sent: list | None = None
    last_error_date: int = 0
    last_error_message: str = ""
    next_set_webhook: float = 0.0
    pending: list = field(default_factory=list)
    chats: dict = field(default_factory=dict)
    blocked: set = field(default_factory=set)
    messages: dict = field(default_factory=dict)   # chat_id -> {message_id: message}
    files: dict = field(default_factory=dict)      # file_id -> _File
    paths: dict = field(default_factory=dict)      # file_path -> _File
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    update_ids: itertools.count = field(
        default_factory=lambda: itertools.count(secrets.randbelow(400_000_000) + 100_000_000))
    file_numbers: itertools.count = field(default_factory=lambda: itertools.count(0))


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _to_bool(value: str | None) -> bool:
    """Client::to_bool."""
    return (value or "").strip().lower() in ("true", "yes", "1")


def _to_int(value: str | None, default: int = 0) -> int:
    """td::to_integer: the leading integer, 0 when there is none."""
    m = re.match(r"\s*([+-]?\d+)", value or "")
    return int(m.group(1)) if m else default


# --- Text formatting --------------------------------------------------------------------------------
class _Builder:
    """Plain text plus entities, offsets and lengths in UTF-16 code units (as Telegram counts)."""

    def __init__(self):
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[dict] = []

    def add(self, text: str):
        self.parts.append(text)
        self.pos += _utf16_len(text)

    def entity(self, kind: str, start: int, **extra):
        if self.pos > start:
            self.entities.append({"offset": start, "length": self.pos - start, "type": kind, **extra})

    def text(self) -> str:
        return "".join(self.parts)


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _parse_html(text: str) -> tuple[str, list]:
    """Telegram's HTML parse mode (TDLib parse_html): the supported tags, the four named entities
    and numeric ones; anything else is an error worded like TDLib's."""
    out = _Builder()
    stack: list[dict] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            m = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);").match(text, i)
            if m:
                ref = m.group(1)
                if ref.startswith("#"):
                    code = int(ref[2:], 16) if ref[1:2] in "xX" and ref[1:2] else int(ref[1:])
                    out.add(chr(code) if 0 < code < 0x110000 else "\ufffd")
                else:
                    out.add(_HTML_NAMED[ref])
                i = m.end()
            else:
                out.add("&")
                i += 1
            continue
        if c != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":  # end tag
            i += 1
            j = i
            while j < n and text[j] not in "> \t\r\n":
                j += 1
            name = text[i:j].lower()
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] != ">":
                raise bad_request(f"Can't parse entities: Unclosed end tag at byte offset "
                                  f"{_byte_offset(text, begin)}")
            i = j + 1
            if not stack:
                raise bad_request(f"Can't parse entities: Unexpected end tag at byte offset "
                                  f"{_byte_offset(text, begin)}")
            top = stack.pop()
            if name != top["tag"]:
                raise bad_request(
                    f"Can't parse entities: Unmatched end tag at byte offset "
                    f"{_byte_offset(text, begin)}, expected \"</{top['tag']}>\", found \"</{name}>\"")
            _close_html_entity(out, top, stack)
            continue
        j = i
        while j < n and (text[j].isascii() and (text[j].isalnum() or text[j] == "-")):
            j += 1
        name = text[i:j].lower()
        if name not in _HTML_TAGS:
            raise bad_request(f"Can't parse entities: Unsupported start tag \"{name}\" at byte "
                              f"offset {_byte_offset(text, begin)}")
        attrs: dict[str, str] = {}
        i = j
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i >= n:
                raise bad_request(f"Can't parse entities: Unclosed start tag at byte offset "
                                  f"{_byte_offset(text, begin)}")
            if text[i] == ">":
                i += 1
                break
            if text[i] == "/" and i + 1 < n and text[i + 1] == ">":
                i += 2
                break
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] in "-_"):
                j += 1
            if j == i:
                raise bad_request(f"Can't parse entities: Empty attribute name in the tag \"{name}\""
                                  f" at byte offset {_byte_offset(text, i)}")
            attr = text[i:j].lower()
            i = j
            while i < n and text[i] in " \t\r\n":
                i += 1
            value = ""
            if i < n and text[i] == "=":
                i += 1
                while i < n and text[i] in " \t\r\n":
                    i += 1
                if i < n and text[i] in "'\"":
                    quote = text[i]
                    end = text.find(quote, i + 1)
                    if end < 0:
                        raise bad_request(f"Can't parse entities: Unclosed start tag at byte offset "
                                          f"{_byte_offset(text, begin)}")
                    value = html_unescape(text[i + 1:end])
                    i = end + 1
                else:
                    j = i
                    while j < n and text[j] not in " \t\r\n>":
                        j += 1
                    value = html_unescape(text[i:j])
                    i = j
            attrs[attr] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise bad_request(f"Can't parse entities: Tag \"span\" must have class \"tg-spoiler\" "
                              f"at byte offset {_byte_offset(text, begin)}")
        stack.append({"tag": name, "attrs": attrs, "start": out.pos})
    if stack:
        raise bad_request(f"Can't parse entities: Can't find end tag corresponding to start tag "
                          f"\"{stack[-1]['tag']}\"")
    return out.text(), out.entities


def html_unescape(value: str) -> str:
    return re.sub(r"&(lt|gt|amp|quot);", lambda m: _HTML_NAMED[m.group(1)], value)


def _close_html_entity(out: _Builder, top: dict, stack: list):
    kind = _HTML_TAGS[top["tag"]]
    attrs = top["attrs"]
    if kind == "text_link":
        href = attrs.get("href", "")
        if not href:
            return  # a link without an address is plain text
        m = re.match(r"tg://user\?id=(\d+)\Z", href)
        if m:
            out.entity("text_mention", top["start"],
                       user={"id": int(m.group(1)), "is_bot": False, "first_name": ""})
        else:
            out.entity("text_link", top["start"], url=href)
    elif kind == "code" and stack and stack[-1]["tag"] == "pre" \
            and attrs.get("class", "").startswith("language-"):
        stack[-1]["language"] = attrs["class"][len("language-"):]
    elif kind == "pre":
        extra = {"language": top["language"]} if top.get("language") else {}
        out.entity("pre", top["start"], **extra)
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", top["start"])
    elif kind == "custom_emoji":
        if attrs.get("emoji-id"):
            out.entity("custom_emoji", top["start"], custom_emoji_id=attrs["emoji-id"])
    else:
        out.entity(kind, top["start"])


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline",
               "strikethrough": "Strikethrough", "spoiler": "Spoiler", "code": "Code",
               "pre": "Pre", "text_link": "TextUrl", "custom_emoji": "CustomEmoji"}


def _parse_markdown_v2(text: str) -> tuple[str, list]:
    """MarkdownV2 (TDLib parse_markdown_v2): every reserved character outside an entity must be
    escaped with a backslash; inside code and pre only ` and \\ must be."""
    out = _Builder()
    stack: list[dict] = []
    quote_start = None
    i, n = 0, len(text)

    def open_(kind, width, **extra):
        stack.append({"type": kind, "start": out.pos, "byte": _byte_offset(text, i), **extra})
        return i + width

    def close(width):
        top = stack.pop()
        extra = {k: top[k] for k in ("language",) if top.get(k)}
        out.entity(top["type"], top["start"], **extra)
        return i + width

    def fail_unclosed(top):
        raise bad_request(f"Can't parse entities: Can't find end of {_MDV2_NAMES[top['type']]} "
                          f"entity at byte offset {top['byte']}")

    while i < n:
        c = text[i]
        top = stack[-1]["type"] if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top in ("code", "pre"):
            if top == "pre" and text.startswith("```", i):
                i = close(3)
            elif top == "code" and c == "`":
                i = close(1)
            else:
                out.add(c)
                i += 1
            continue
        at_line_start = i == 0 or text[i - 1] == "\n"
        if c == ">" and at_line_start and not stack:
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if c == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue
        if c == "_" and text.startswith("__", i):
            kind, width = "underline", 2
        elif c == "_":
            kind, width = "italic", 1
        elif c == "*":
            kind, width = "bold", 1
        elif c == "~":
            kind, width = "strikethrough", 1
        elif c == "|" and text.startswith("||", i):
            kind, width = "spoiler", 2
        elif c == "`":
            if text.startswith("```", i):
                end = text.find("\n", i + 3)
                language = text[i + 3:end] if end >= 0 else ""
                if language and re.fullmatch(r"[\w+#.-]+", language):
                    i = open_("pre", 3 + len(language) + 1, language=language)
                else:
                    i = open_("pre", 3)
            else:
                i = open_("code", 1)
            continue
        elif c == "[":
            i = open_("text_link", 1)
            continue
        elif c == "!" and text.startswith("![", i):
            i = open_("custom_emoji", 2)
            continue
        elif c == "]" and top in ("text_link", "custom_emoji"):
            entry = stack.pop()
            i += 1
            url = ""
            if i < n and text[i] == "(":
                j = i + 1
                chars = []
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(text[j])
                    j += 1
                if j >= n:
                    raise bad_request(f"Can't parse entities: Can't find end of a url at byte "
                                      f"offset {_byte_offset(text, i)}")
                url = "".join(chars)
                i = j + 1
            if entry["type"] == "custom_emoji":
                m = re.match(r"tg://emoji\?id=(\d+)\Z", url)
                if not m:
                    raise bad_request("Can't parse entities: Custom emoji URL must have scheme tg")
                out.entity("custom_emoji", entry["start"], custom_emoji_id=m.group(1))
            elif url:
                m = re.match(r"tg://user\?id=(\d+)\Z", url)
                if m:
                    out.entity("text_mention", entry["start"],
                               user={"id": int(m.group(1)), "is_bot": False, "first_name": ""})
                else:
                    out.entity("text_link", entry["start"], url=url)
            continue
        else:
            raise bad_request(f"Can't parse entities: Character '{c}' is reserved and must be "
                              f"escaped with the preceding '\\'")
        if top == kind:
            i = close(width)
        elif any(e["type"] == kind for e in stack):
            fail_unclosed(stack[-1])
        else:
            i = open_(kind, width)
    if stack:
        fail_unclosed(stack[-1])
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.text(), out.entities


def _parse_markdown_v1(text: str) -> tuple[str, list]:
    """Legacy Markdown (TDLib parse_markdown): *bold*, _italic_, `code`, ```pre```, [text](url);
    no nesting, and an unmatched marker is an error."""
    out = _Builder()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = _byte_offset(text, i)
        error = bad_request(f"Can't parse entities: Can't find end of the entity starting at byte "
                            f"offset {begin}")
        start = out.pos
        if c == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            label = text[i + 1:end]
            if end + 1 < n and text[end + 1] == "(":
                close = text.find(")", end + 2)
                if close < 0:
                    raise error
                url = text[end + 2:close]
                out.add(label)
                if url:
                    out.entity("text_link", start, url=url)
                i = close + 1
            else:
                out.add(label)
                i = end + 1
            continue
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise error
            body = text[i + 3:end]
            language = ""
            m = re.match(r"([\w+#.-]*)\n", body)
            if m:
                language, body = m.group(1), body[m.end():]
            out.add(body)
            out.entity("pre", start, **({"language": language} if language else {}))
            i = end + 3
            continue
        end = text.find(c, i + 1)
        if end < 0:
            raise error
        out.add(text[i + 1:end])
        out.entity({"_": "italic", "*": "bold", "`": "code"}[c], start)
        i = end + 1
    return out.text(), out.entities


_INPUT_ENTITY_TYPES = {
    "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link",
    "text_mention", "custom_emoji", "blockquote", "expandable_blockquote", "date_time",
}
_AUTO_ENTITY_TYPES = {"mention", "hashtag", "cashtag", "bot_command", "url", "email",
                      "phone_number", "bank_card_number"}


def _explicit_entities(raw: str | None) -> list:
    """``entities``/``caption_entities`` without a parse mode. Unparsable JSON is ignored, as
    Client::get_input_entities does; a malformed entity is an error."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("Can't parse MessageEntity: expected an Object")
        for name in ("offset", "length"):
            if name not in item:
                raise bad_request(f"Can't parse MessageEntity: Can't find field \"{name}\"")
            if not isinstance(item[name], int) or isinstance(item[name], bool):
                raise bad_request(f"Can't parse MessageEntity: Field \"{name}\" must be a valid "
                                  f"Number")
        kind = item.get("type")
        if not kind:
            raise bad_request("Can't parse MessageEntity: Type is not specified")
        if kind in _AUTO_ENTITY_TYPES:
            continue  # Telegram finds these itself
        if kind not in _INPUT_ENTITY_TYPES:
            raise bad_request("Can't parse MessageEntity: Unsupported type specified")
        if kind == "text_link" and not item.get("url"):
            raise bad_request("Can't parse MessageEntity: Can't find field \"url\"")
        out.append({k: v for k, v in item.items()
                    if k in ("offset", "length", "type", "url", "user", "language",
                             "custom_emoji_id", "unix_time", "date_time_format")})
    return out


_AUTO_PATTERNS = (
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]'}]", re.I)),
    ("email", re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{5,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{1,8}\b")),
)


def find_entities(text: str) -> list:
    """The entities Telegram detects by itself in any text (URLs, e-mails, commands, mentions,
    hashtags, cashtags), UTF-16 offsets, first match wins where they overlap."""
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in _AUTO_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), kind))
    return [{"offset": _utf16_len(text[:s]), "length": _utf16_len(text[s:e]), "type": kind}
            for s, e, kind in sorted(spans)]


def _sorted_entities(entities: list) -> list:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def format_text(text: str, parse_mode: str | None, entities_json: str | None) -> tuple[str, list]:
    """Client::get_formatted_text, then the trimming and entity detection TDLib adds. Returns the
    text as Telegram stores it and its entities; raises TelegramError like Telegram."""
    if len(text.encode("utf-8")) > MAX_RAW_TEXT_BYTES:
        raise bad_request("Text is too long")
    mode = (parse_mode or "").lower()
    if text and mode and mode != "none":
        if mode == "html":
            plain, entities = _parse_html(text)
        elif mode == "markdownv2":
            plain, entities = _parse_markdown_v2(text)
        elif mode == "markdown":
            plain, entities = _parse_markdown_v1(text)
        else:
            raise bad_request("Unsupported parse_mode")
    else:
        plain, entities = text, _explicit_entities(entities_json)
    # TDLib strips leading and trailing whitespace, moving entities with the text.
    stripped = plain.strip()
    if stripped != plain:
        cut = _utf16_len(plain[:len(plain) - len(plain.lstrip())])
        size = _utf16_len(stripped)
        moved = []
        for e in entities:
            start = max(e["offset"] - cut, 0)
            end = min(e["offset"] + e["length"] - cut, size)
            if end > start:
                moved.append({**e, "offset": start, "length": end - start})
        plain, entities = stripped, moved
    covered = [(e["offset"], e["offset"] + e["length"]) for e in entities
               if e["type"] in ("code", "pre", "text_link", "text_mention", "custom_emoji")]
    for auto in find_entities(plain):
        s, e = auto["offset"], auto["offset"] + auto["length"]
        if not any(s < ce and cs < e for cs, ce in covered):
            entities.append(auto)
    return plain, _sorted_entities(entities)


# --- Media helpers ----------------------------------------------------------------------------------
def _image_info(data: bytes):
    """(width, height, format) of decodable image bytes, else None (Pillow is a runtime dep)."""
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            img.size  # noqa: B018 - forces the header to be read
            return img.size[0], img.size[1], (img.format or "").lower()
    except Exception:
        return None


def _jpeg_thumbnail(data: bytes, side: int) -> tuple[bytes, int, int] | None:
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=80)
            return buf.getvalue(), img.size[0], img.size[1]
    except Exception:
        return None


def _scaled(width: int, height: int, side: int) -> tuple[int, int]:
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in ((b"%PDF", "application/pdf"), (b"GIF8", "image/gif"),
                        (b"PK\x03\x04", "application/zip"), (b"\x89PNG", "image/png"),
                        (b"\xff\xd8\xff", "image/jpeg")):
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- The fake ---------------------------------------------------------------------------------------
class FakeTelegram:
    """Telegram for tests. See the module docstring; every public method is thread-safe.

    ``allow_http_webhooks`` (default True) lets setWebhook take ``http://127.0.0.1:<any port>``
    URLs, like a local Bot API server (``--local``); False applies api.telegram.org's checks:
    HTTPS only, ports 443/80/88/8443, no reserved IP addresses.
    ``set_webhook_flood_control`` (default False) enables the real server's "one setWebhook with a
    URL per second" rule (429 "Too Many Requests: retry after 1").
    """

    def __init__(self, *, allow_http_webhooks: bool = True, set_webhook_flood_control: bool = False):
        self.allow_http_webhooks = allow_http_webhooks
        self.set_webhook_flood_control = set_webhook_flood_control
        self.calls: list[Call] = []
        self.downloads: list[tuple[str, str, int]] = []   # (token, file_path, HTTP status)
        self._lock = threading.RLock()
        self._bots: dict[str, _Bot] = {}
        self._failures: list[dict] = []
        self._urls: dict[str, tuple[bytes, str]] = {}
        self._profile_photos: dict[int, list[bytes]] = {}    # user id -> pictures, newest first
        self._profile_files: dict[tuple, list[dict]] = {}    # (token, user id, picture) -> sizes
        self._user_ids = itertools.count(5_550_000_001)
        self._bot_ids = itertools.count(7_000_000_001)
        self._connections: set = set()
        self.default_user = self.user("Ann", last_name="Lee", username="ann_lee", language_code="en")
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-telegram", daemon=True)
        self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------------------
    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- setup ---------------------------------------------------------------------------------------
    def add_bot(self, token: str, username: str = "shop_bot", first_name: str = "Shop Bot",
                bot_id: int | None = None) -> dict:
        """Register a bot; returns the User object getMe answers. The id defaults to the number
        before the colon of the token, as Telegram's tokens are made."""
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not a Bot API token (<digits>:<secret>): {token!r}")
        if bot_id is None:
            bot_id = int(token.split(":", 1)[0]) or next(self._bot_ids)
        user = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False, "has_topics_enabled": False,
                "allows_users_to_create_topics": False, "can_manage_bots": False,
                "supports_guest_queries": False}
        with self._lock:
            self._bots[token] = _Bot(token=token, user=user)
        return dict(user)

    def user(self, first_name: str = "Ann", *, last_name: str | None = None,
             username: str | None = None, language_code: str | None = "en",
             is_premium: bool = False, user_id: int | None = None) -> dict:
        """A new Telegram user (a fresh id each call) for the builders' ``user=``."""
        out = {"id": user_id or next(self._user_ids), "is_bot": False, "first_name": first_name}
        if last_name:
            out["last_name"] = last_name
        if username:
            out["username"] = username
        if language_code:
            out["language_code"] = language_code
        if is_premium:
            out["is_premium"] = True
        return out

    def set_profile_photo(self, user_id: int, data: bytes):
        """The user sets a new profile picture (``getUserProfilePhotos`` lists it first)."""
        with self._lock:
            self._profile_photos.setdefault(int(user_id), []).insert(0, data)

    def webhook(self, token: str) -> dict | None:
        """The webhook as registered: url, secret_token, allowed_updates (the list as sent, or None
        when the bot never sent one), effective_allowed_updates, max_connections, ip_address,
        has_custom_certificate, drop_pending_updates (of the call that set it)."""
        with self._lock:
            bot = self._bots[token]
            if bot.webhook is None:
                return None
            hook = {k: v for k, v in bot.webhook.items() if not k.startswith("_")}
            return {**hook, "allowed_updates": bot.allowed_updates_sent,
                    "effective_allowed_updates": [t for t in UPDATE_TYPES if t in bot.allowed]}

    def calls_to(self, method: str, token: str | None = None) -> list[Call]:
        """Calls of ``method`` (case-insensitive, as Telegram matches method names)."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()
                    and (token is None or c.token == token)]

    def pending_updates(self, token: str) -> list[dict]:
        with self._lock:
            return [dict(u) for u in self._bots[token].pending]

    def fail_next(self, method: str, error_code: int, description: str,
                  retry_after: int | None = None, times: int = 1,
                  migrate_to_chat_id: int | None = None):
        """The next ``times`` calls of ``method`` (any bot) fail with this error, before any other
        check but after the token is accepted. ``retry_after``/``migrate_to_chat_id`` go into
        ``parameters``; a 429 also gets the ``Retry-After`` header, as Telegram's does."""
        params = {}
        if retry_after is not None:
            params["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            params["migrate_to_chat_id"] = migrate_to_chat_id
        with self._lock:
            self._failures.append({"method": method.lower(), "left": times,
                                   "error": TelegramError(error_code, description, params)})

    def block_user(self, token: str, chat_id: int):
        """The user blocks the bot: sends to the chat fail 403 "Forbidden: bot was blocked by the
        user" until ``unblock_user`` or a ``my_chat_member_update(..., status="member")``."""
        with self._lock:
            bot = self._bots[token]
            chat_id = int(chat_id)
            bot.chats.setdefault(chat_id, {"id": chat_id, "first_name": "", "type": "private"})
            bot.blocked.add(chat_id)

    def unblock_user(self, token: str, chat_id: int):
        with self._lock:
            self._bots[token].blocked.discard(int(chat_id))

    def add_chat(self, token: str, user: dict | None = None) -> dict:
        """Make a private chat known, as if the user had started the bot (no update queued)."""
        user = user or self.default_user
        with self._lock:
            return dict(self._register_chat(self._bots[token], self._private_chat(user)))

    def register_url(self, url: str, data: bytes, content_type: str = "application/octet-stream"):
        """A non-loopback URL that sendPhoto/sendDocument may "download" (loopback URLs are really
        fetched; others are unreachable from here and fail like an unreachable URL)."""
        with self._lock:
            self._urls[url] = (data, content_type)

    def add_file(self, token: str, data: bytes, file_path: str = "photos/file_1.jpg",
                 file_size: int | None = None) -> dict:
        """Store a file as if Telegram had it; returns {file_id, file_unique_id, file_size,
        file_path}. ``file_size`` overrides ``len(data)`` (a "40 MB" file without 40 MB of bytes):
        getFile answers 400 "Bad Request: file is too big" past 20 MiB."""
        kind = _DIR_KIND.get(file_path.split("/", 1)[0], "document")
        with self._lock:
            bot = self._bots[token]
            f = self._store_file(bot, kind, data, file_path=file_path, size=file_size)
            return f.info()

    # -- update builders -----------------------------------------------------------------------------
    def text_update(self, token: str, text: str, user: dict | None = None, chat_id: int | None = None,
                    **kw) -> dict:
        """A text message from ``user`` (default: ``default_user``) in their private chat, or in
        the group ``chat_id`` (negative). Entities Telegram detects (commands, URLs, mentions...)
        are added. ``kw``: ``update_type`` ("message", "edited_message", "business_message"),
        ``chat_title``, ``date``, or any Message field to add (``reply_to_message``...)."""
        content = {"text": text}
        entities = find_entities(text)
        if entities:
            content["entities"] = entities
        return self._message_update(token, user, content, chat_id=chat_id, **kw)

    def photo_update(self, token: str, data: bytes, caption: str | None = None,
                     user: dict | None = None, **kw) -> dict:
        """A photo: PhotoSize entries smallest to largest (real JPEG thumbnails when the bytes
        are an image; the largest keeps the bytes given), every one a downloadable file."""
        with self._lock:
            sizes = self._photo_sizes(self._bots[token], data)
        return self._message_update(token, user, {"photo": sizes, **self._caption(caption)}, **kw)

    def document_update(self, token: str, data: bytes, file_name: str, mime_type: str | None,
                        caption: str | None = None, user: dict | None = None, **kw) -> dict:
        with self._lock:
            document = self._document(self._bots[token], data, file_name, mime_type)
        return self._message_update(token, user, {"document": document, **self._caption(caption)},
                                    **kw)

    def sticker_update(self, token: str, data: bytes | None = None, emoji: str = "👍",
                       set_name: str | None = "ShopStickers", is_animated: bool = False,
                       is_video: bool = False, user: dict | None = None, **kw) -> dict:
        ext = "tgs" if is_animated else "webm" if is_video else "webp"
        data = data if data is not None else b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00"
        with self._lock:
            bot = self._bots[token]
            f = self._store_file(bot, "sticker", data, ext=ext)
            sticker = {"width": 512, "height": 512, "emoji": emoji}
            if set_name:
                sticker["set_name"] = set_name
            sticker.update({"is_animated": is_animated, "is_video": is_video, "type": "regular",
                            **self._thumbnail(bot, data, 128), **self._ids(f)})
        return self._message_update(token, user, {"sticker": sticker}, **kw)

    def voice_update(self, token: str, data: bytes, duration: int = 3, mime_type: str = "audio/ogg",
                     caption: str | None = None, user: dict | None = None, **kw) -> dict:
        with self._lock:
            f = self._store_file(self._bots[token], "voice", data, ext="oga")
            voice = {"duration": duration, "mime_type": mime_type, **self._ids(f)}
        return self._message_update(token, user, {"voice": voice, **self._caption(caption)}, **kw)

    def audio_update(self, token: str, data: bytes, file_name: str = "song.mp3",
                     mime_type: str = "audio/mpeg", duration: int = 180,
                     performer: str | None = None, title: str | None = None,
                     caption: str | None = None, user: dict | None = None, **kw) -> dict:
        with self._lock:
            f = self._store_file(self._bots[token], "audio", data, ext=_ext(file_name, "mp3"))
            audio = {"duration": duration, "file_name": file_name, "mime_type": mime_type}
            if performer:
                audio["performer"] = performer
            if title:
                audio["title"] = title
            audio.update(self._ids(f))
        return self._message_update(token, user, {"audio": audio, **self._caption(caption)}, **kw)

    def video_update(self, token: str, data: bytes, width: int = 1280, height: int = 720,
                     duration: int = 10, file_name: str = "video.mp4", mime_type: str = "video/mp4",
                     caption: str | None = None, user: dict | None = None, **kw) -> dict:
        with self._lock:
            bot = self._bots[token]
            f = self._store_file(bot, "video", data, ext=_ext(file_name, "mp4"))
            video = {"duration": duration, "width": width, "height": height,
                     "file_name": file_name, "mime_type": mime_type,
                     **self._thumbnail(bot, None, 320, width, height), **self._ids(f)}
        return self._message_update(token, user, {"video": video, **self._caption(caption)}, **kw)

    def video_note_update(self, token: str, data: bytes, length: int = 240, duration: int = 5,
                          user: dict | None = None, **kw) -> dict:
        with self._lock:
            bot = self._bots[token]
            f = self._store_file(bot, "video_note", data, ext="mp4")
            note = {"duration": duration, "length": length,
                    **self._thumbnail(bot, None, length, length, length), **self._ids(f)}
        return self._message_update(token, user, {"video_note": note}, **kw)

    def location_update(self, token: str, latitude: float = 50.4501, longitude: float = 30.5234,
                        horizontal_accuracy: float | None = None, live_period: int | None = None,
                        user: dict | None = None, **kw) -> dict:
        location = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        return self._message_update(token, user, {"location": location}, **kw)

    def contact_update(self, token: str, phone_number: str = "+380501234567",
                       first_name: str = "Ann", last_name: str | None = None,
                       user_id: int | None = None, vcard: str | None = None,
                       user: dict | None = None, **kw) -> dict:
        """A shared contact. Telegram sends phone numbers without "+" when the user shares their
        own; pass it as you want it to arrive."""
        contact = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if user_id:
            contact["user_id"] = user_id
        if vcard:
            contact["vcard"] = vcard
        return self._message_update(token, user, {"contact": contact}, **kw)

    def my_chat_member_update(self, token: str, user: dict | None = None, status: str = "kicked",
                              date: int | None = None) -> dict:
        """The user blocked ("kicked") or (re)started ("member") the bot in their private chat.
        Changes state like Telegram: "kicked" blocks sends, "member" unblocks them."""
        if status not in ("kicked", "member"):
            raise ValueError("status is 'kicked' (blocked) or 'member' (started/unblocked)")
        user = user or self.default_user
        with self._lock:
            bot = self._bots[token]
            chat = self._register_chat(bot, self._private_chat(user))
            me = {k: bot.user[k] for k in ("id", "is_bot", "first_name", "username")}
            old_status = "member" if status == "kicked" else "kicked"
            old = {"user": me, "status": old_status}
            new = {"user": me, "status": status}
            if old_status == "kicked":
                old["until_date"] = 0
            else:
                new["until_date"] = 0
            if status == "kicked":
                bot.blocked.add(chat["id"])
            else:
                bot.blocked.discard(chat["id"])
            member = {"chat": dict(chat), "from": dict(user), "date": date or int(time.time()),
                      "old_chat_member": old, "new_chat_member": new}
            return self._queue(bot, "my_chat_member", member)

    # -- delivery ------------------------------------------------------------------------------------
    def deliver(self, token: str, update: dict, secret_token: str | None = None,
                timeout: float = 30.0) -> int:
        """POST ``update`` to the bot's webhook as Telegram does (JSON body, ``Content-Type:
        application/json``, ``X-Telegram-Bot-Api-Secret-Token`` = the registered secret, or
        ``secret_token`` if given, none if ``""``) and return the HTTP status. A non-2xx answer is
        recorded like Telegram (getWebhookInfo ``last_error_date``/``last_error_message``, the
        update stays pending); a 2xx answer carrying a ``method`` runs that Bot API call, as
        Telegram does. Raises NotDelivered when no webhook is set or the bot's allowed_updates
        exclude this update type, and re-raises connection errors after recording them."""
        with self._lock:
            bot = self._bots[token]
            if bot.webhook is None:
                raise NotDelivered("no webhook is set for this bot (setWebhook was not called, "
                                   "failed, or deleteWebhook removed it)")
            kinds = [k for k in update if k != "update_id"]
            kind = kinds[0] if kinds else "?"
            if kind not in bot.allowed:
                raise NotDelivered(
                    f"Telegram would not send a {kind!r} update: the bot's allowed_updates are "
                    f"{[t for t in UPDATE_TYPES if t in bot.allowed]}")
            hook = dict(bot.webhook)
        secret = (hook.get("secret_token") or "") if secret_token is None else secret_token
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        parts = urlsplit(hook["url"])
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Content-Type": "application/json",
                   "Content-Length": str(len(body)), "Connection": "keep-alive",
                   "Accept-Encoding": "gzip, deflate"}
        if parts.username is not None:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            headers["Authorization"] = "Basic " + base64.b64encode(unquote(userinfo).encode()).decode()
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            status, reason = response.status, response.reason
            answer = response.read()
            answer_type = response.getheader("Content-Type", "")
        except (OSError, http.client.HTTPException) as exc:
            self._webhook_error(bot, _connection_error_text(exc))
            raise
        finally:
            conn.close()
        if not 200 <= status <= 299:
            self._webhook_error(bot, f"Wrong response from the webhook: {status} {reason}")
            return status
        with self._lock:
            bot.pending = [u for u in bot.pending if u.get("update_id") != update.get("update_id")]
        self._run_webhook_answer(token, answer, answer_type)
        return status

    def _webhook_error(self, bot: _Bot, message: str):
        with self._lock:
            bot.last_error_date = int(time.time())
            bot.last_error_message = message

    def _run_webhook_answer(self, token: str, answer: bytes, content_type: str):
        """WebhookActor::handle: a 2xx answer may carry one method call (not get*/setWebhook/...)."""
        if not answer.strip():
            return
        params: dict[str, str] = {}
        files: dict = {}
        try:
            params, files = _parse_body(answer, content_type or "application/json")
        except TelegramError:
            return
        method = params.get("method", "")
        low = method.lower()
        if not method or low in ("deletewebhook", "setwebhook", "close", "logout") \
                or low.startswith("get"):
            return
        params = {k: v for k, v in params.items() if k != "method"}
        self._api(token, method, params, files, "WEBHOOK-ANSWER", content_type, {})

    # -- HTTP entry points ---------------------------------------------------------------------------
    def _handle_http(self, handler: "_Handler", verb: str):
        split = urlsplit(handler.path)
        path = unquote(split.path)
        if path.startswith("/file/bot"):
            return self._serve_file(handler, path[len("/file/bot"):])
        m = re.match(r"/bot([^/]*)/(.*)\Z", path, re.S)
        try:
            body = handler.read_body()
        except TelegramError as exc:
            handler.close_connection = True
            return handler.send_json(exc.code, exc.body())
        if not m:
            return handler.send_json(404, TelegramError(404, E_NOT_FOUND).body())
        token, method = m.group(1), m.group(2)
        content_type = handler.headers.get("Content-Type", "")
        headers = {k: v for k, v in handler.headers.items()}
        try:
            params = dict(reversed(parse_qsl(split.query, keep_blank_values=True)))
            body_params, files = _parse_body(body, content_type) if body else ({}, {})
            for k, v in body_params.items():   # Query::arg: the first occurrence wins
                params.setdefault(k, v)
        except TelegramError as exc:
            call = Call(token, method, {}, {}, exc.code, exc.body(), verb, content_type, headers)
            with self._lock:
                self.calls.append(call)
            return handler.send_json(exc.code, exc.body())
        status, response, extra = self._api(token, method, params, files, verb, content_type, headers)
        handler.send_json(status, response, extra)

    def _api(self, token, method, params, files, verb, content_type, headers):
        if not method:
            method = params.get("method", "")      # Query: an empty path method reads "method"
        prefetched = None
        low = method.lower()
        if low in ("sendphoto", "senddocument") and token in self._bots:
            prefetched = self._prefetch_url(params.get(low[4:], "").strip())
        with self._lock:
            try:
                if not _TOKEN_RE.match(token) or token.startswith("0"):
                    raise TelegramError(404, E_NOT_FOUND)
                bot = self._bots.get(token)
                if bot is None:
                    raise TelegramError(401, E_UNAUTHORIZED)
                self._injected_failure(low)
                handler = getattr(self, f"_m_{low}", None)
                if handler is None:
                    raise TelegramError(404, E_NOT_FOUND)
                result = handler(bot, params, files, prefetched)
                if isinstance(result, tuple):
                    result, description = result
                    response = {"ok": True, "result": result, "description": description}
                else:
                    response = {"ok": True, "result": result}
                status, extra = 200, {}
            except TelegramError as exc:
                status, response = exc.code, exc.body()
                retry = exc.parameters.get("retry_after")
                extra = {"Retry-After": str(retry)} if exc.code == 429 and retry else {}
            self.calls.append(Call(token, method, dict(params), dict(files), status, response,
                                   verb, content_type, headers))
            return status, response, extra

    def _injected_failure(self, method: str):
        for failure in self._failures:
            if failure["method"] == method and failure["left"] > 0:
                failure["left"] -= 1
                if failure["left"] == 0:
                    self._failures.remove(failure)
                raise failure["error"]

    def _serve_file(self, handler: "_Handler", rest: str):
        token, _, file_path = rest.partition("/")
        with self._lock:
            bot = self._bots.get(token)
            f = bot.paths.get(file_path) if bot else None
            ok = f is not None and f.data is not None and f.size <= MAX_DOWNLOAD_SIZE
            status = 200 if ok else 404
            self.downloads.append((token, file_path, status))
        if not ok:
            return handler.send_json(404, TelegramError(404, E_NOT_FOUND).body())
        handler.send_bytes(200, f.data, "application/octet-stream")

    # -- methods -------------------------------------------------------------------------------------
    def _m_getme(self, bot, p, files, pre):
        return dict(bot.user)

    def _m_setwebhook(self, bot, p, files, pre, deleting=False):
        url = "" if deleting else p.get("url", "")
        now = time.monotonic()
        if url and self.set_webhook_flood_control:
            if now < bot.next_set_webhook:
                raise TelegramError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            bot.next_set_webhook = now + 1
        certificate = files.get("certificate")
        if certificate is None and p.get("certificate", "").startswith("attach://"):
            certificate = files.get(p["certificate"][len("attach://"):])
        max_connections = 0
        if url:
            raw = p.get("max_connections", "")
            max_connections = min(max(_to_int(raw) if raw else 40, 1), 100)  # clamped, no error
        secret = p.get("secret_token", "") if url else ""
        ip_address = p.get("ip_address", "") if url else ""
        drop = _to_bool(p.get("drop_pending_updates"))
        current = bot.webhook
        same = (current is not None and url == current["url"] and certificate is None
                and not current["has_custom_certificate"]
                and max_connections == current["max_connections"]
                and secret == current["secret_token"]
                and bool(ip_address) == bool(current["_fixed_ip"])
                and (not ip_address or ip_address == current["_fixed_ip"]) and not drop)
        if (current is None and not url and not drop) or same:
            self._update_allowed(bot, p)
            return True, ("Webhook is already set" if url else "Webhook is already deleted")
        # The old webhook is closed first: a refused new URL leaves the bot without a webhook.
        was_set = current is not None
        bot.webhook = None
        bot.last_error_date, bot.last_error_message = 0, ""
        if drop:
            bot.pending.clear()
        if not url:
            return True, ("Webhook was deleted" if was_set else "Webhook is already deleted")
        parts = _parse_webhook_url(url)
        if len(secret) > MAX_SECRET_TOKEN:
            raise TelegramError(400, E_SECRET_TOO_LONG)
        if not _SECRET_RE.match(secret):
            raise TelegramError(400, E_SECRET_CHARS)
        if certificate is not None and len(certificate[1]) > MAX_CERTIFICATE_SIZE:
            raise TelegramError(400, f"Bad Request: certificate size is too big "
                                     f"({len(certificate[1])} bytes)")
        self._update_allowed(bot, p)
        host = parts.hostname or ""
        if not self.allow_http_webhooks:   # WebhookActor::start_up and check_ip_address
            if parts.scheme != "https":
                raise TelegramError(400, E_HTTPS_REQUIRED)
            if (parts.port or 443) not in WEBHOOK_PORTS:
                raise TelegramError(400, E_WEBHOOK_PORT)
            address = ip_address or host
            try:
                ip = ipaddress.ip_address(address.strip("[]"))
            except ValueError:
                ip = None
            if ip is not None and ip.version == 6:
                raise TelegramError(400, "Bad Request: bad webhook: IPv6-only addresses are not allowed")
            if ip is not None and (ip.is_private or ip.is_loopback or ip.is_reserved
                                   or ip.is_link_local or ip.is_multicast or ip.is_unspecified):
                raise TelegramError(400, f"Bad Request: bad webhook: IP address {ip} is reserved")
        if ip_address:
            resolved = ip_address
        elif _is_loopback(host) and not re.match(r"[\d.]+\Z", host):
            resolved = "127.0.0.1"
        else:
            try:
                resolved = str(ipaddress.ip_address(host.strip("[]")))
            except ValueError:
                resolved = "<unknown>"   # Telegram shows this until it resolves the host
        bot.webhook = {"url": url, "secret_token": secret, "max_connections": max_connections,
                       "ip_address": resolved, "has_custom_certificate": certificate is not None,
                       "drop_pending_updates": drop, "_fixed_ip": ip_address}
        return True, "Webhook was set"

    def _m_deletewebhook(self, bot, p, files, pre):
        return self._m_setwebhook(bot, p, files, pre, deleting=True)

    def _update_allowed(self, bot: _Bot, p: dict):
        """Client::get_allowed_update_types: bad JSON, a non-array or a non-string item changes
        nothing (no error); an empty or unknown-only list means the default set."""
        raw = p.get("allowed_updates", "")
        if not raw:
            return
        try:
            value = json.loads(raw)
        except ValueError:
            return
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            return
        chosen = frozenset(x.lower() for x in value) & frozenset(UPDATE_TYPES)
        bot.allowed = chosen or DEFAULT_ALLOWED_UPDATES
        bot.allowed_updates_sent = list(value)

    def _m_getwebhookinfo(self, bot, p, files, pre):
        hook = bot.webhook
        out = {"url": hook["url"] if hook else "", "has_custom_certificate":
               bool(hook and hook["has_custom_certificate"]), "pending_update_count": len(bot.pending)}
        if bot.last_error_date:
            out["last_error_date"] = bot.last_error_date
            out["last_error_message"] = bot.last_error_message
        if hook:
            out["max_connections"] = hook["max_connections"]
            out["ip_address"] = hook["ip_address"]
        if bot.allowed != DEFAULT_ALLOWED_UPDATES:
            out["allowed_updates"] = [t for t in UPDATE_TYPES if t in bot.allowed]
        return out

    def _m_getupdates(self, bot, p, files, pre):
        if bot.webhook is not None:
            raise TelegramError(409, E_WEBHOOK_CONFLICT)
        self._update_allowed(bot, p)
        offset = _to_int(p.get("offset"))
        limit = min(max(_to_int(p.get("limit")) if p.get("limit") else 100, 1), 100)
        if offset > 0:   # confirms every update below the offset
            bot.pending = [u for u in bot.pending if u["update_id"] >= offset]
        elif offset < 0:
            bot.pending = bot.pending[offset:]
        return [dict(u) for u in bot.pending[:limit]]

    def _m_sendchataction(self, bot, p, files, pre):
        if p.get("action", "").lower() not in CHAT_ACTIONS:
            raise TelegramError(400, E_WRONG_ACTION)
        chat = self._check_chat(bot, p.get("chat_id", ""))
        self._check_writable(bot, chat)
        return True

    def _m_sendmessage(self, bot, p, files, pre):
        self._link_preview_options(p)    # Client::get_input_message_text reads it first
        text = p.get("text", "")
        if not text:
            raise TelegramError(400, E_TEXT_EMPTY)
        plain, entities = format_text(text, p.get("parse_mode"), p.get("entities"))
        reply = self._reply_parameters(p)
        markup = self._reply_markup(p)
        chat = self._check_chat(bot, p.get("chat_id", ""))
        reply_to = self._resolve_reply(bot, chat, reply)
        if not plain:
            raise TelegramError(400, E_TEXT_EMPTY)
        if len(plain) > MAX_TEXT_LENGTH:
            raise TelegramError(400, E_TEXT_TOO_LONG)
        self._check_writable(bot, chat)
        content = {"text": plain}
        if entities:
            content["entities"] = entities
        if _to_bool(p.get("disable_web_page_preview")) and any(e["type"] == "url" for e in entities):
            content["link_preview_options"] = {"is_disabled": True}
        return self._outgoing(bot, chat, content, p, markup, reply_to)

    def _m_sendphoto(self, bot, p, files, pre):
        source = self._input_file(p, files, "photo")
        if source is None:
            raise bad_request("There is no photo in the request")
        caption = self._caption_param(p)
        reply = self._reply_parameters(p)
        markup = self._reply_markup(p)
        chat = self._check_chat(bot, p.get("chat_id", ""))
        reply_to = self._resolve_reply(bot, chat, reply)
        self._check_caption(caption)
        kind, value = source
        if kind == "upload":
            _, data, _ = value
            if not data:
                raise TelegramError(400, E_EMPTY_FILE)
            if len(data) > MAX_PHOTO_UPLOAD:
                raise TelegramError(400, E_PHOTO_TOO_BIG)
            self._check_image(data)
            sizes = self._photo_sizes(bot, data)
        elif kind == "url":
            data, mime = self._fetched(pre, MAX_PHOTO_BY_URL)
            self._check_image(data)
            sizes = self._photo_sizes(bot, data)
        else:
            f = self._known_file(bot, value, ("photo",))
            sizes = [self._photo_size(g) for g in (f.group or [f])]
        self._check_writable(bot, chat)
        content = {"photo": sizes, **self._caption_fields(caption)}
        if _to_bool(p.get("has_spoiler")):
            content["has_media_spoiler"] = True
        if _to_bool(p.get("show_caption_above_media")):
            content["show_caption_above_media"] = True
        return self._outgoing(bot, chat, content, p, markup, reply_to)

    def _m_senddocument(self, bot, p, files, pre):
        source = self._input_file(p, files, "document")
        if source is None:
            raise bad_request("There is no document in the request")
        caption = self._caption_param(p)
        reply = self._reply_parameters(p)
        markup = self._reply_markup(p)
        chat = self._check_chat(bot, p.get("chat_id", ""))
        reply_to = self._resolve_reply(bot, chat, reply)
        self._check_caption(caption)
        kind, value = source
        if kind == "upload":
            name, data, _ = value
            if not data:
                raise TelegramError(400, E_EMPTY_FILE)
            if len(data) > MAX_FILE_UPLOAD:
                raise TelegramError(413, E_TOO_LARGE)
            document = self._document(bot, data, name or "file", None)
        elif kind == "url":
            data, mime = self._fetched(pre, MAX_FILE_BY_URL)
            sniffed = _sniff_mime(data) or mime
            if sniffed not in ("image/gif", "application/pdf", "application/zip"):
                raise TelegramError(400, E_URL_WRONG_TYPE)   # "only GIF, PDF and ZIP" by URL
            name = urlsplit(value).path.rsplit("/", 1)[-1] or "file"
            document = self._document(bot, data, name, sniffed)
        else:
            f = self._known_file(bot, value, ("document", "animation"))
            document = {k: f.meta[k] for k in ("file_name", "mime_type", "thumbnail", "thumb")
                        if k in f.meta}
            document.update(self._ids(f))
        self._check_writable(bot, chat)
        content = {}
        if document.get("mime_type") == "image/gif":
            # Telegram turns a GIF sent as a document into an animation (both fields present).
            content["animation"] = {k: v for k, v in document.items()
                                    if k not in ("thumbnail", "thumb")}
            content["animation"].update({"duration": 0, "width": document.get("_w", 1),
                                         "height": document.get("_h", 1)})
        document = {k: v for k, v in document.items() if not k.startswith("_")}
        if "animation" in content:
            content["animation"] = {k: v for k, v in content["animation"].items()
                                    if not k.startswith("_")}
        content["document"] = document
        content.update(self._caption_fields(caption))
        return self._outgoing(bot, chat, content, p, markup, reply_to)

    def _m_getfile(self, bot, p, files, pre):
        file_id = p.get("file_id", "").strip()
        if not file_id:
            raise TelegramError(400, E_FILE_ID_EMPTY)
        f = bot.files.get(file_id)
        if f is None:
            raise TelegramError(400, E_INVALID_FILE_ID)
        if f.size > MAX_DOWNLOAD_SIZE:
            raise TelegramError(400, E_FILE_TOO_BIG)
        return f.info()

    def _m_getuserprofilephotos(self, bot, p, files, pre):
        """UserProfilePhotos: total_count and, from ``offset``, up to ``limit`` (1-100, default
        100) photos, each a list of square PhotoSize (160, 320, 640 px). Bots see users who
        have talked to them; the file ids stay the same between calls, as Telegram's do."""
        user_id = _to_int(p.get("user_id"))
        if user_id <= 0:
            raise TelegramError(400, E_USER_ID_INVALID)
        if user_id not in bot.chats:
            raise TelegramError(400, E_USER_NOT_FOUND)
        offset = max(0, _to_int(p.get("offset"), 0))
        limit = min(100, max(1, _to_int(p.get("limit"), 100)))
        pictures = self._profile_photos.get(user_id, [])
        photos = []
        for index in range(offset, min(len(pictures), offset + limit)):
            key = (bot.token, user_id, len(pictures) - index)   # stable as new ones arrive
            if key not in self._profile_files:
                sizes = []
                for side in _PROFILE_PHOTO_SIDES:
                    thumb = _jpeg_thumbnail(pictures[index], side)
                    blob, w, h = thumb if thumb else (pictures[index], side, side)
                    sizes.append(self._store_file(bot, "photo", blob, ext="jpg", width=w, height=h))
                for f in sizes:
                    f.group = sizes
                self._profile_files[key] = [self._photo_size(f) for f in sizes]
            photos.append(self._profile_files[key])
        return {"total_count": len(pictures), "photos": photos}

    # -- checks --------------------------------------------------------------------------------------
    def _check_chat(self, bot: _Bot, chat_id: str) -> dict:
        chat_id = chat_id.strip()
        if not chat_id:
            raise TelegramError(400, E_CHAT_ID_EMPTY)
        if chat_id.startswith("@"):
            for chat in bot.chats.values():   # only public groups/channels resolve by username
                if chat["type"] != "private" and chat.get("username") == chat_id[1:]:
                    return chat
            raise TelegramError(400, E_CHAT_NOT_FOUND)
        chat = bot.chats.get(_to_int(chat_id))
        if chat is None:
            raise TelegramError(400, E_CHAT_NOT_FOUND)
        return chat

    def _check_writable(self, bot: _Bot, chat: dict):
        if chat["id"] in bot.blocked:
            raise TelegramError(403, E_BLOCKED)

    def _link_preview_options(self, p: dict):
        raw = p.get("link_preview_options", "")
        if raw:
            try:
                value = json.loads(raw)
            except ValueError:
                raise bad_request("Can't parse link preview options JSON object") from None
            if not isinstance(value, dict):
                raise bad_request("Object expected as link preview options")

    def _caption_param(self, p: dict):
        caption = p.get("caption", "")
        if not caption:
            return "", []
        return format_text(caption, p.get("parse_mode"), p.get("caption_entities"))

    def _check_caption(self, caption):
        if len(caption[0]) > MAX_CAPTION_LENGTH:
            raise TelegramError(400, E_CAPTION_TOO_LONG)

    @staticmethod
    def _caption_fields(caption) -> dict:
        text, entities = caption
        out = {}
        if text:
            out["caption"] = text
            if entities:
                out["caption_entities"] = entities
        return out

    def _reply_parameters(self, p: dict) -> dict | None:
        raw = p.get("reply_parameters", "")
        if raw:
            try:
                value = json.loads(raw)
            except ValueError:
                raise bad_request("Can't parse reply parameters JSON object") from None
            if not isinstance(value, dict):
                raise bad_request("Object expected as reply parameters")
            if "message_id" not in value:
                raise bad_request("Can't parse reply parameters: Can't find field \"message_id\"")
            return {"message_id": _to_int(str(value["message_id"])),
                    "chat_id": value.get("chat_id"),
                    "allow": bool(value.get("allow_sending_without_reply"))}
        if p.get("reply_to_message_id"):
            return {"message_id": _to_int(p["reply_to_message_id"]), "chat_id": None,
                    "allow": _to_bool(p.get("allow_sending_without_reply"))}
        return None

    def _resolve_reply(self, bot: _Bot, chat: dict, reply: dict | None) -> dict | None:
        if not reply or reply["message_id"] <= 0:
            return None
        target = chat
        if reply["chat_id"] not in (None, "", chat["id"], str(chat["id"])):
            target = self._check_chat(bot, str(reply["chat_id"]))
        found = bot.messages.get(target["id"], {}).get(reply["message_id"])
        if found is None:
            if reply["allow"]:
                return None
            raise TelegramError(400, E_REPLY_NOT_FOUND)
        found = {k: v for k, v in found.items() if k != "reply_to_message"}
        if target is not chat:
            return {"external_reply": True, "message": found}
        return found

    def _reply_markup(self, p: dict) -> dict | None:
        """Client::get_reply_markup. Returns the inline keyboard (the only markup a sent Message
        echoes), or None."""
        raw = p.get("reply_markup", "")
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise bad_request("Can't parse reply keyboard markup JSON object") from None
        if not isinstance(value, dict):
            raise bad_request("Object expected as reply markup")
        keyboard = value.get("keyboard")
        if keyboard is not None:
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise bad_request("Field \"keyboard\" must be an Array of Arrays")
            for row in keyboard:
                for button in row:
                    if isinstance(button, str):
                        continue
                    if not isinstance(button, dict):
                        raise bad_request("Can't parse keyboard button: KeyboardButton must be a "
                                          "String or an Object")
                    if not isinstance(button.get("text"), str):
                        raise bad_request("Can't parse keyboard button: Can't find field \"text\"")
        inline = value.get("inline_keyboard")
        if inline is None:
            return None
        if not isinstance(inline, list) or not all(isinstance(r, list) for r in inline):
            raise bad_request("Field \"inline_keyboard\" of the InlineKeyboardMarkup must be an "
                              "Array of Arrays")
        actions = ("url", "callback_data", "callback_game", "pay", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                   "login_url", "web_app", "copy_text")
        rows = []
        for row in inline:
            out_row = []
            for button in row:
                if not isinstance(button, dict):
                    raise bad_request("Can't parse inline keyboard button: InlineKeyboardButton "
                                      "must be an Object")
                if not isinstance(button.get("text"), str):
                    raise bad_request("Can't parse inline keyboard button: Can't find field "
                                      "\"text\"")
                if not any(button.get(a) not in (None, "") for a in actions):
                    raise bad_request("Can't parse inline keyboard button: Text buttons are "
                                      "unallowed in the inline keyboard")
                data = button.get("callback_data")
                if isinstance(data, str) and len(data.encode("utf-8")) > MAX_CALLBACK_DATA:
                    raise TelegramError(400, "Bad Request: BUTTON_DATA_INVALID")
                out_row.append({k: v for k, v in button.items() if v not in (None, "")})
            rows.append(out_row)
        return {"inline_keyboard": rows} if any(rows) else None

    def _input_file(self, p: dict, files: dict, name: str):
        """Client::get_input_file: an uploaded part named like the parameter, ``attach://<part>``,
        or a string (a file_id, or an HTTP URL Telegram downloads)."""
        if name in files:
            return "upload", files[name]
        value = p.get(name, "").strip()
        if not value:
            return None
        if value.startswith("attach://"):
            part = files.get(value[len("attach://"):])
            return ("upload", part) if part else None
        if re.match(r"https?://", value, re.I):
            return "url", value
        return "file_id", value

    def _prefetch_url(self, value: str):
        """Download a URL given as a file, outside the lock (the console may be serving it)."""
        if not re.match(r"https?://", value, re.I):
            return None
        with self._lock:
            seeded = self._urls.get(value)
        if seeded is not None:
            return seeded
        host = urlsplit(value).hostname or ""
        if not _is_loopback(host):
            return TelegramError(400, E_WRONG_FILE)   # unreachable from this sandbox
        try:
            request = urllib.request.Request(value, headers={"User-Agent": "TelegramBot (like TwitterBot)"})
            with urllib.request.urlopen(request, timeout=URL_FETCH_TIMEOUT) as response:
                data = response.read(MAX_FILE_BY_URL + 1)
                return data, response.headers.get("Content-Type", "").split(";")[0].strip()
        except (urllib.error.URLError, OSError, ValueError):
            return TelegramError(400, E_URL_FAILED)

    def _fetched(self, pre, limit: int) -> tuple[bytes, str]:
        if isinstance(pre, TelegramError):
            raise pre
        if pre is None:
            raise TelegramError(400, E_WRONG_FILE)
        data, mime = pre
        if not data or len(data) > limit:
            raise TelegramError(400, E_URL_FAILED)
        return data, mime

    def _check_image(self, data: bytes):
        info = _image_info(data)
        if info is None:
            raise TelegramError(400, E_IMAGE_FAILED)
        width, height, _ = info
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise TelegramError(400, E_PHOTO_DIMENSIONS)

    def _known_file(self, bot: _Bot, file_id: str, kinds: tuple) -> _File:
        f = bot.files.get(file_id)
        if f is None:
            raise TelegramError(400, E_WRONG_FILE)
        if f.kind not in kinds:
            raise TelegramError(400, E_TYPE_MISMATCH)
        return f

    # -- state helpers -------------------------------------------------------------------------------
    def _new_file_id(self, kind: str) -> tuple[str, str]:
        rand = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode().rstrip("=")
        unique = base64.urlsafe_b64encode(secrets.token_bytes(9)).decode().rstrip("=")
        return _FILE_ID_PREFIX[kind] + rand, _UNIQUE_PREFIX.get(kind, "AgAD") + unique

    def _store_file(self, bot: _Bot, kind: str, data: bytes | None, *, ext: str = "dat",
                    file_path: str | None = None, size: int | None = None, **meta) -> _File:
        generated = file_path is None
        file_id, unique = self._new_file_id(kind)
        while generated and (file_path is None or file_path in bot.paths):
            # numbered like Telegram's, never reusing a path add_file took
            file_path = f"{_FILE_DIR[kind]}/file_{next(bot.file_numbers)}.{ext}"
        f = _File(file_id, unique, kind, file_path,
                  size if size is not None else len(data or b""), data, dict(meta))
        bot.files[file_id] = f
        bot.paths[file_path] = f
        return f

    @staticmethod
    def _ids(f: _File) -> dict:
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size}

    @staticmethod
    def _photo_size(f: _File) -> dict:
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size,
                "width": f.meta["width"], "height": f.meta["height"]}

    def _photo_sizes(self, bot: _Bot, data: bytes) -> list[dict]:
        info = _image_info(data)
        width, height = (info[0], info[1]) if info else (1280, 960)
        longest = max(width, height)
        files = []
        for side in _PHOTO_SIDES:
            if side >= longest:
                break
            thumb = _jpeg_thumbnail(data, side) if info else None
            blob, w, h = thumb if thumb else (data, *_scaled(width, height, side))
            files.append(self._store_file(bot, "photo", blob, ext="jpg", width=w, height=h))
        if not files:   # a small picture still comes with a thumbnail entry
            thumb = _jpeg_thumbnail(data, longest) if info else None
            blob, w, h = thumb if thumb else (data, width, height)
            files.append(self._store_file(bot, "photo", blob, ext="jpg", width=w, height=h))
        files.append(self._store_file(bot, "photo", data, ext="jpg", width=width, height=height))
        for f in files:
            f.group = files
        return [self._photo_size(f) for f in files]

    def _thumbnail(self, bot: _Bot, data: bytes | None, side: int, width: int = 0,
                   height: int = 0) -> dict:
        """``thumbnail`` plus the legacy ``thumb`` the real server still sends alongside it."""
        thumb = _jpeg_thumbnail(data, side) if data else None
        if thumb is None:
            if not width:
                return {}
            w, h = _scaled(width, height, min(side, 320))
            thumb = (_jpeg_thumbnail(_blank_jpeg(w, h), max(w, h)) or (b"\xff\xd8\xff", w, h))
        blob, w, h = thumb
        f = self._store_file(bot, "thumbnail", blob, ext="jpg", width=w, height=h)
        size = self._photo_size(f)
        return {"thumbnail": size, "thumb": dict(size)}

    def _document(self, bot: _Bot, data: bytes, file_name: str, mime_type: str | None) -> dict:
        mime = mime_type or mimetypes.guess_type(file_name)[0]
        kind = "animation" if mime == "image/gif" else "document"
        f = self._store_file(bot, kind, data, ext=_ext(file_name, "dat"), file_name=file_name)
        document = {"file_name": file_name}
        if mime:
            document["mime_type"] = mime
        info = _image_info(data) if mime and mime.startswith("image/") else None
        if info:
            document.update(self._thumbnail(bot, data, 320))
            document["_w"], document["_h"] = info[0], info[1]
        document.update(self._ids(f))
        f.meta.update({k: v for k, v in document.items() if k in ("mime_type", "thumbnail", "thumb")})
        return document

    @staticmethod
    def _caption(caption: str | None) -> dict:
        if not caption:
            return {}
        out = {"caption": caption}
        entities = find_entities(caption)
        if entities:
            out["caption_entities"] = entities
        return out

    @staticmethod
    def _private_chat(user: dict) -> dict:
        chat = {"id": user["id"], "first_name": user.get("first_name", "")}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        chat["type"] = "private"
        return chat

    @staticmethod
    def _register_chat(bot: _Bot, chat: dict) -> dict:
        bot.chats[chat["id"]] = chat
        return chat

    def _message_update(self, token: str, user: dict | None, content: dict, *,
                        chat_id: int | None = None, update_type: str = "message",
                        chat_title: str = "Shop group", date: int | None = None, **extra) -> dict:
        user = user or self.default_user
        with self._lock:
            bot = self._bots[token]
            if chat_id is None or int(chat_id) == user["id"]:
                chat = self._private_chat(user)
            else:
                chat = {"id": int(chat_id), "title": chat_title, "type": "group",
                        "all_members_are_administrators": True}
            chat = self._register_chat(bot, chat)
            if update_type == "message" and chat["type"] == "private":
                bot.blocked.discard(chat["id"])   # writing to the bot unblocks it
            message = {"message_id": next(bot.message_ids), "from": dict(user),
                       "chat": dict(chat), "date": date or int(time.time())}
            if update_type.startswith("edited_"):
                message["edit_date"] = message["date"] + 5
            message.update(content)
            message.update(extra)
            bot.messages.setdefault(chat["id"], {})[message["message_id"]] = message
            return self._queue(bot, update_type, message)

    def _queue(self, bot: _Bot, update_type: str, payload: dict) -> dict:
        update = {"update_id": next(bot.update_ids), update_type: payload}
        if update_type in bot.allowed:   # Client::add_update_impl skips unallowed types
            bot.pending.append(json.loads(json.dumps(update)))
        return json.loads(json.dumps(update))

    def _outgoing(self, bot: _Bot, chat: dict, content: dict, p: dict, markup: dict | None,
                  reply_to: dict | None) -> dict:
        me = {k: bot.user[k] for k in ("id", "is_bot", "first_name", "username")}
        message = {"message_id": next(bot.message_ids), "from": me, "chat": dict(chat),
                   "date": int(time.time())}
        if reply_to is not None:
            if reply_to.get("external_reply"):
                message["external_reply"] = {"origin": {"type": "user", "date": reply_to["message"]["date"],
                                                        "sender_user": reply_to["message"]["from"]},
                                             "chat": reply_to["message"]["chat"],
                                             "message_id": reply_to["message"]["message_id"]}
            else:
                message["reply_to_message"] = reply_to
        message.update(content)
        if _to_bool(p.get("protect_content")):
            message["has_protected_content"] = True
        if markup:
            message["reply_markup"] = markup
        bot.messages.setdefault(chat["id"], {})[message["message_id"]] = message
        return json.loads(json.dumps(message))


def _ext(file_name: str, default: str) -> str:
    return file_name.rsplit(".", 1)[-1].lower() if "." in file_name else default


def _blank_jpeg(width: int, height: int) -> bytes:
    try:
        from PIL import Image
        buf = io.BytesIO()
        Image.new("RGB", (width, height), (40, 40, 40)).save(buf, "JPEG")
        return buf.getvalue()
    except Exception:
        return b"\xff\xd8\xff\xd9"


def _parse_webhook_url(url: str):
    """td::parse_url with HTTPS as the default protocol."""
    candidate = url if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url) else f"https://{url}"
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError:
        raise TelegramError(400, E_WEBHOOK_URL) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == 0 \
            or any(c in url for c in " \t\r\n"):
        raise TelegramError(400, E_WEBHOOK_URL)
    return parts


def _connection_error_text(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "Read timeout expired"
    if isinstance(exc, ssl.SSLError):
        return f"SSL error {{{exc}}}"
    if isinstance(exc, http.client.HTTPException):
        return "Webhook connection closed"
    return str(exc) or type(exc).__name__


def _parse_body(body: bytes, content_type: str) -> tuple[dict, dict]:
    """The request body as Telegram reads it: every argument a string; files apart."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        try:
            value = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            # Guess: td's HttpReader words it like this; the Bot API docs say nothing.
            raise TelegramError(400, "Bad Request: can't parse JSON encoded request") from None
        if not isinstance(value, dict):
            raise TelegramError(400, "Bad Request: JSON object expected")
        return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False,
                                                           separators=(",", ":"))
                for k, v in value.items()}, {}
    if mime == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(reversed(pairs)), {}
    if mime == "multipart/form-data":
        return _parse_multipart(body, content_type)
    return {}, {}


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict, dict]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise TelegramError(400, "Bad Request: multipart boundary not found")
    boundary = b"--" + m.group(1).encode("latin-1")
    params: dict[str, str] = {}
    files: dict[str, tuple] = {}
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, content = chunk.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disposition = headers.get("content-disposition", "")
        name_m = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        if not name_m:
            continue
        name = name_m.group(1)
        file_m = re.search(r"filename\*=(?:UTF-8'')?([^;]+)", disposition, re.I) \
            or re.search(r'(?:^|;)\s*filename="([^"]*)"', disposition)
        if file_m:
            filename = unquote(file_m.group(1).strip('"'))
            files.setdefault(name, (filename, content,
                                    headers.get("content-type", "application/octet-stream")))
        else:
            params.setdefault(name, content.decode("utf-8", "replace"))
    return params, files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"   # what api.telegram.org answers in Server
    sys_version = ""
    timeout = 60
    fake: FakeTelegram

    def setup(self):
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._connections.discard(self.connection)

    def do_GET(self):
        self.fake._handle_http(self, "GET")

    def do_POST(self):
        self.fake._handle_http(self, "POST")

    def log_message(self, *args):
        pass

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_REQUEST_BODY:
                    raise TelegramError(413, E_TOO_LARGE)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            raise TelegramError(413, E_TOO_LARGE)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, payload: dict, extra: dict | None = None):
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_bytes(status, body, "application/json", extra)

    def send_bytes(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def example_updates(fake: FakeTelegram, token: str) -> dict[str, dict]:
    """One update of each kind the builders make, keyed by kind (the fixtures' file names)."""
    from PIL import Image

    def image(size, color):
        buf = io.BytesIO()
        Image.new("RGB", size, color).save(buf, "JPEG")
        return buf.getvalue()

    ann = fake.default_user
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    return {
        "text": fake.text_update(token, "Hi! Is the blue mug in stock?", user=ann),
        "start": fake.text_update(token, "/start ref-42", user=ann),
        "edited_text": fake.text_update(token, "Hi! Is the red mug in stock?", user=ann,
                                        update_type="edited_message"),
        "photo": fake.photo_update(token, image((1600, 1200), (200, 40, 40)),
                                   caption="This one, please", user=ann),
        "document": fake.document_update(token, pdf, "invoice.pdf", "application/pdf",
                                         caption="My invoice", user=ann),
        "sticker": fake.sticker_update(token, image((512, 512), (250, 200, 0)), user=ann),
        "voice": fake.voice_update(token, b"OggS\x00\x02" + b"\x00" * 64, duration=4, user=ann),
        "audio": fake.audio_update(token, b"ID3\x04" + b"\x00" * 64, file_name="jingle.mp3",
                                   performer="Shop Band", title="Jingle", user=ann),
        "video": fake.video_update(token, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, user=ann),
        "video_note": fake.video_note_update(token, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32,
                                             user=ann),
        "location": fake.location_update(token, 50.4501, 30.5234, user=ann),
        "contact": fake.contact_update(token, "+380501234567", "Ann", last_name="Lee",
                                       user_id=ann["id"], user=ann),
        "my_chat_member_kicked": fake.my_chat_member_update(token, ann, status="kicked"),
        "my_chat_member_member": fake.my_chat_member_update(token, ann, status="member"),
    }


def write_fixtures(directory, token: str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") -> list:
    """(Re)write ``<kind>.json`` for every kind of ``example_updates`` into ``directory``."""
    from pathlib import Path
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with FakeTelegram() as fake:
        fake.add_bot(token)
        written = []
        for kind, update in example_updates(fake, token).items():
            path = out / f"{kind}.json"
            path.write_text(json.dumps(update, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":   # .venv/bin/python tests/fakes/telegram.py tests/fixtures/payloads/telegram
    import sys
    for written_path in write_fixtures(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written_path)
