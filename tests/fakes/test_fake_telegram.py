"""The fake Telegram Bot API server checked against an independent peer (python-telegram-bot) and
against Telegram's documented behaviour. Run: .venv/bin/python -m pytest tests/fakes -q"""
import asyncio
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import telegram
from PIL import Image
from telegram import constants, error

from fakes.telegram import (
    DEFAULT_ALLOWED_UPDATES, MAX_DOWNLOAD_SIZE, UPDATE_TYPES, FakeTelegram, NotDelivered,
    example_updates, find_entities, format_text,
)

pytestmark = pytest.mark.integration

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "payloads" / "telegram"


# --- helpers ----------------------------------------------------------------------------------------
def jpeg(size=(640, 480), color=(200, 30, 30), fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


class Receiver:
    """A tiny webhook receiver (and file host) standing in for the console."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.body = b""
        self.content_type = "text/plain"
        self.extra_headers = {}
        self.files = {}   # GET path -> (bytes, content type)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": self.rfile.read(length)})
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                for k, v in outer.extra_headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(outer.body)

            def do_GET(self):
                data, ctype = outer.files.get(self.path, (b"", None))
                self.send_response(200 if ctype else 404)
                self.send_header("Content-Type", ctype or "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeTelegram()
    f.add_bot(TOKEN)
    yield f
    f.stop()


@pytest.fixture
def strict():
    f = FakeTelegram(allow_http_webhooks=False)
    f.add_bot(TOKEN)
    yield f
    f.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def api(fake, method, token=TOKEN, *, data=None, json_body=None, files=None, params=None,
        get=False):
    url = f"{fake.base_url}/bot{token}/{method}"
    if get:
        r = requests.get(url, params=params, timeout=10)
    else:
        r = requests.post(url, params=params, data=data, json=json_body, files=files, timeout=30)
    return r.status_code, r.json()


def err(description, code=400, **parameters):
    out = {"ok": False, "error_code": code, "description": description}
    if parameters:
        out["parameters"] = parameters
    return out


def ptb(fake, token=TOKEN):
    return telegram.Bot(token, base_url=f"{fake.base_url}/bot",
                        base_file_url=f"{fake.base_url}/file/bot")


def run(coro):
    # In its own thread: Playwright's sync API (the e2e tests, same session) keeps an
    # event loop running in the main thread, where asyncio.run() is not allowed.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def chat_of(fake):
    return fake.add_chat(TOKEN)["id"]


def shape(value):
    """Keys and value types, recursively: what a payload looks like, not what it says."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else type(value).__name__


# --- python-telegram-bot as the client ----------------------------------------------------------------
def test_update_types_are_bot_api_10_as_in_ptb():
    assert set(UPDATE_TYPES) == {u.value for u in constants.UpdateType}
    assert DEFAULT_ALLOWED_UPDATES == set(UPDATE_TYPES) - {
        "chat_member", "message_reaction", "message_reaction_count"}


def test_ptb_get_me_and_webhook_registration(fake, receiver):
    async def scenario():
        async with ptb(fake) as bot:   # initialize() calls getMe
            me = await bot.get_me()
            assert (me.id, me.is_bot, me.username, me.first_name) == (
                123456789, True, "shop_bot", "Shop Bot")
            assert me.can_join_groups is True and me.supports_inline_queries is False
            assert await bot.set_webhook(f"{receiver.url}/tg/hook", secret_token="s3cr_et-1",
                                         allowed_updates=["message", "my_chat_member"],
                                         max_connections=10, drop_pending_updates=True)
            return await bot.get_webhook_info()

    info = run(scenario())
    assert info.url == f"{receiver.url}/tg/hook"
    assert info.has_custom_certificate is False and info.pending_update_count == 0
    assert info.max_connections == 10 and info.ip_address == "127.0.0.1"
    assert info.allowed_updates == ("message", "my_chat_member")
    assert info.last_error_date is None and info.last_error_message is None
    hook = fake.webhook(TOKEN)
    assert hook["url"] == f"{receiver.url}/tg/hook" and hook["secret_token"] == "s3cr_et-1"
    assert hook["allowed_updates"] == ["message", "my_chat_member"]
    assert hook["max_connections"] == 10 and hook["drop_pending_updates"] is True
    # PTB's wire format: form-encoded, allowed_updates as a JSON string.
    call = fake.calls_to("setwebhook")[-1]
    assert call.content_type.startswith("application/x-www-form-urlencoded")
    assert call.json_param("allowed_updates") == ["message", "my_chat_member"]


def test_ptb_sends_text_photo_document_and_downloads(fake, tmp_path):
    chat_id = chat_of(fake)
    photo_path = tmp_path / "mug.png"
    photo_path.write_bytes(jpeg((1600, 1200), fmt="PNG"))
    doc_path = tmp_path / "invoice.pdf"
    doc_path.write_bytes(PDF)

    async def scenario():
        async with ptb(fake) as bot:
            text = await bot.send_message(chat_id, "<b>Order</b> #12 is ready: https://shop.example/o/12",
                                          parse_mode="HTML")
            with photo_path.open("rb") as fh:
                photo = await bot.send_photo(chat_id, fh, caption="Your mug")
            with doc_path.open("rb") as fh:
                doc = await bot.send_document(chat_id, fh, caption="Invoice")
            await bot.send_chat_action(chat_id, constants.ChatAction.TYPING)
            doc_file = await bot.get_file(doc.document.file_id)
            doc_bytes = bytes(await doc_file.download_as_bytearray())
            big_file = await bot.get_file(photo.photo[-1].file_id)
            photo_bytes = bytes(await big_file.download_as_bytearray())
            return text, photo, doc, doc_file, doc_bytes, photo_bytes

    text, photo, doc, doc_file, doc_bytes, photo_bytes = run(scenario())
    assert text.text == "Order #12 is ready: https://shop.example/o/12"
    assert text.from_user.is_bot and text.chat.id == chat_id and text.message_id > 0
    # "#12" is no hashtag: Telegram wants a letter in one.
    assert [(e.type, e.offset, e.length) for e in text.entities] == [("bold", 0, 5), ("url", 20, 25)]
    assert photo.caption == "Your mug"
    sizes = [(p.width, p.height) for p in photo.photo]
    assert sizes == sorted(sizes) and sizes[-1] == (1600, 1200) and len(sizes) >= 3
    assert photo_bytes == photo_path.read_bytes()
    assert (doc.document.file_name, doc.document.mime_type, doc.caption) == (
        "invoice.pdf", "application/pdf", "Invoice")
    assert doc_bytes == PDF and doc_file.file_size == len(PDF)
    assert doc_file.file_path.startswith(f"{fake.base_url}/file/bot{TOKEN}/documents/")
    # Uploads are multipart with the field named after the parameter.
    upload = fake.calls_to("sendPhoto")[-1]
    assert upload.content_type.startswith("multipart/form-data")
    assert upload.files["photo"][0] == "mug.png" and upload.params["caption"] == "Your mug"
    # PTB percent-encodes the token's ":" in download URLs; the fake decodes it.
    assert all(status == 200 for _, _, status in fake.downloads) and len(fake.downloads) == 2


def test_ptb_maps_the_fakes_errors(fake):
    chat_id = chat_of(fake)

    async def scenario():
        async with ptb(fake) as bot:
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
            with pytest.raises(error.RetryAfter) as flood:
                await bot.send_message(chat_id, "hi")
            fake.block_user(TOKEN, chat_id)
            with pytest.raises(error.Forbidden, match="bot was blocked by the user"):
                await bot.send_message(chat_id, "hi")
            with pytest.raises(error.BadRequest, match="Chat not found"):
                await bot.send_message(424242, "hi")
            with pytest.raises(error.BadRequest, match="File is too big"):
                big = fake.add_file(TOKEN, b"x", "videos/file_9.mp4", file_size=MAX_DOWNLOAD_SIZE + 1)
                await bot.get_file(big["file_id"])
            fake.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                           migrate_to_chat_id=-1001234567890)
            fake.unblock_user(TOKEN, chat_id)
            with pytest.raises(error.ChatMigrated) as migrated:
                await bot.send_message(chat_id, "hi")
            return flood.value, migrated.value

    flood, migrated = run(scenario())
    retry_after = flood.retry_after   # an int, or a timedelta when PTB_TIMEDELTA is set
    assert getattr(retry_after, "total_seconds", lambda: retry_after)() == 3
    assert migrated.new_chat_id == -1001234567890

    async def wrong_token():
        async with ptb(fake, "987654321:unknown-token"):
            pass

    with pytest.raises(error.InvalidToken):
        run(wrong_token())


# --- every update the fake builds is one PTB accepts ------------------------------------------------
@pytest.fixture(scope="module")
def examples():
    f = FakeTelegram()
    f.add_bot(TOKEN)
    yield f, example_updates(f, TOKEN)
    f.stop()


KINDS = ["text", "start", "edited_text", "photo", "document", "sticker", "voice", "audio", "video",
         "video_note", "location", "contact", "my_chat_member_kicked", "my_chat_member_member"]


def test_example_kinds_are_all_listed(examples):
    assert sorted(examples[1]) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_ptb_parses_every_built_update(examples, kind):
    fake, updates = examples
    payload = updates[kind]
    update = telegram.Update.de_json(json.loads(json.dumps(payload)), ptb(fake))
    assert update.update_id == payload["update_id"]
    assert not update.api_kwargs   # no field PTB (Bot API 10.0) does not know
    msg = update.effective_message
    if kind.startswith("my_chat_member"):
        member = update.my_chat_member
        status = kind.rsplit("_", 1)[1]
        assert member.new_chat_member.status == status
        assert member.old_chat_member.status == ("member" if status == "kicked" else "kicked")
        assert member.new_chat_member.user.is_bot and member.chat.type == "private"
        assert member.from_user.id == member.chat.id == fake.default_user["id"]
        return
    assert not msg.api_kwargs
    assert msg.chat.type == "private" and msg.from_user.id == msg.chat.id == fake.default_user["id"]
    assert msg.date.timestamp() == payload[next(k for k in payload if k != "update_id")]["date"]
    if kind == "text":
        assert msg.text == "Hi! Is the blue mug in stock?" and not msg.entities
    elif kind == "start":
        assert msg.text == "/start ref-42"
        assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bot_command", 0, 6)]
    elif kind == "edited_text":
        assert update.edited_message is not None and msg.edit_date is not None
    elif kind == "photo":
        sizes = [(p.width, p.height) for p in msg.photo]
        assert len(sizes) >= 3 and sizes == sorted(sizes) and sizes[-1] == (1600, 1200)
        assert sizes[0][0] <= 90 and msg.caption == "This one, please"
        assert all(p.file_id and p.file_unique_id and p.file_size for p in msg.photo)
    elif kind == "document":
        d = msg.document
        assert (d.file_name, d.mime_type, d.file_size) == ("invoice.pdf", "application/pdf",
                                                            d.file_size)
        assert msg.caption == "My invoice" and d.file_size > 0
    elif kind == "sticker":
        s = msg.sticker
        assert (s.type, s.width, s.height, s.is_animated, s.is_video, s.emoji, s.set_name) == (
            "regular", 512, 512, False, False, "👍", "ShopStickers")
        assert s.thumbnail is not None
    elif kind == "voice":
        assert (msg.voice.duration, msg.voice.mime_type) == (4, "audio/ogg")
    elif kind == "audio":
        a = msg.audio
        assert (a.file_name, a.performer, a.title, a.mime_type) == (
            "jingle.mp3", "Shop Band", "Jingle", "audio/mpeg")
    elif kind == "video":
        v = msg.video
        assert (v.width, v.height, v.duration, v.mime_type) == (1280, 720, 10, "video/mp4")
        assert v.thumbnail.width <= 320
    elif kind == "video_note":
        assert (msg.video_note.length, msg.video_note.duration) == (240, 5)
    elif kind == "location":
        assert (msg.location.latitude, msg.location.longitude) == (50.4501, 30.5234)
    elif kind == "contact":
        c = msg.contact
        assert (c.phone_number, c.first_name, c.last_name, c.user_id) == (
            "+380501234567", "Ann", "Lee", fake.default_user["id"])


@pytest.mark.parametrize("kind", KINDS)
def test_fixture_files_parse_and_match_the_builders(examples, kind):
    fake, updates = examples
    stored = json.loads((FIXTURES / f"{kind}.json").read_text(encoding="utf-8"))
    telegram.Update.de_json(json.loads(json.dumps(stored)), ptb(fake))
    assert shape(stored) == shape(updates[kind])


def test_built_files_are_downloadable(examples):
    fake, updates = examples
    photo = updates["photo"]["message"]["photo"]
    for size in photo:
        info = requests.get(f"{fake.base_url}/bot{TOKEN}/getFile",
                            params={"file_id": size["file_id"]}, timeout=10).json()["result"]
        assert info["file_size"] == size["file_size"]
        data = requests.get(f"{fake.base_url}/file/bot{TOKEN}/{info['file_path']}", timeout=10).content
        assert len(data) == size["file_size"]
        w, h = Image.open(io.BytesIO(data)).size
        assert (w, h) == (size["width"], size["height"])


def test_ids_increase_and_dates_are_unix_seconds(fake):
    import time
    first = fake.text_update(TOKEN, "one")
    sent = requests.post(f"{fake.base_url}/bot{TOKEN}/sendMessage",
                         data={"chat_id": first["message"]["chat"]["id"], "text": "two"},
                         timeout=10).json()["result"]
    second = fake.photo_update(TOKEN, jpeg())
    assert first["update_id"] < second["update_id"]
    assert first["message"]["message_id"] < sent["message_id"] < second["message"]["message_id"]
    assert abs(first["message"]["date"] - time.time()) < 5 and isinstance(sent["date"], int)


# --- the HTTP surface ---------------------------------------------------------------------------------
def test_tokens_and_methods(fake):
    assert api(fake, "getMe", token="987654321:nobody") == (401, err("Unauthorized", 401))
    assert api(fake, "getMe", token="not-a-token") == (404, err("Not Found", 404))
    assert api(fake, "sendCarrierPigeon") == (404, err("Not Found", 404))
    status, body = api(fake, "GETME", get=True)   # method names are case-insensitive
    assert status == 200 and body["result"]["username"] == "shop_bot"
    assert requests.get(f"{fake.base_url}/nothing", timeout=10).status_code == 404
    assert [c.status for c in fake.calls] == [401, 404, 404, 200]


@pytest.mark.parametrize("encoding", ["query", "form", "json", "multipart"])
def test_every_parameter_encoding(fake, encoding):
    chat_id = chat_of(fake)
    markup = {"inline_keyboard": [[{"text": "Track", "url": "https://shop.example/t/1"}]]}
    fields = {"chat_id": str(chat_id), "text": "Shipped", "reply_markup": json.dumps(markup)}
    if encoding == "query":
        status, body = api(fake, "sendMessage", params=fields, get=True)
    elif encoding == "form":
        status, body = api(fake, "sendMessage", data=fields)
    elif encoding == "json":
        status, body = api(fake, "sendMessage", json_body={"chat_id": chat_id, "text": "Shipped",
                                                          "reply_markup": markup})
    else:
        status, body = api(fake, "sendMessage", files={k: (None, v) for k, v in fields.items()})
    assert status == 200 and body["ok"] is True
    assert body["result"]["text"] == "Shipped" and body["result"]["reply_markup"] == markup
    call = fake.calls_to("sendMessage")[-1]
    assert call.params["chat_id"] == str(chat_id) and call.json_param("reply_markup") == markup


def test_set_webhook_answers_and_checks(fake):
    assert api(fake, "setWebhook") == (200, {"ok": True, "result": True,
                                             "description": "Webhook is already deleted"})
    hook = {"url": "https://shop.example/tg/hook", "secret_token": "a" * 256}
    assert api(fake, "setWebhook", data=hook)[1]["description"] == "Webhook was set"
    assert api(fake, "setWebhook", data=hook)[1]["description"] == "Webhook is already set"
    assert api(fake, "setWebhook", data={**hook, "secret_token": "a" * 257}) == (
        400, err("Bad Request: secret token is too long"))
    # A refused setWebhook leaves the bot without any webhook, as Telegram's server does.
    assert fake.webhook(TOKEN) is None
    for bad in ("with space", "dots.are.bad", "plus+", "слово"):
        assert api(fake, "setWebhook", data={**hook, "secret_token": bad}) == (
            400, err("Bad Request: secret token contains unallowed characters"))
    assert api(fake, "setWebhook", data={"url": "ftp://shop.example/x"}) == (
        400, err("Bad Request: invalid webhook URL specified"))
    # max_connections is clamped into 1..100, not refused; the default is 40.
    for sent, kept in (("0", 1), ("500", 100), ("", 40), ("25", 25)):
        api(fake, "setWebhook", data={"url": f"https://shop.example/h{sent}", "max_connections": sent})
        assert api(fake, "getWebhookInfo")[1]["result"]["max_connections"] == kept
    assert api(fake, "deleteWebhook")[1] == {"ok": True, "result": True,
                                             "description": "Webhook was deleted"}
    assert api(fake, "getWebhookInfo")[1]["result"] == {
        "url": "", "has_custom_certificate": False, "pending_update_count": 0}


def test_set_webhook_strict_mode_is_api_telegram_org(strict):
    assert api(strict, "setWebhook", data={"url": "http://shop.example/hook"}) == (
        400, err("Bad Request: bad webhook: An HTTPS URL must be provided for webhook"))
    assert api(strict, "setWebhook", data={"url": "https://shop.example:8080/hook"}) == (
        400, err("Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"))
    assert api(strict, "setWebhook", data={"url": "https://127.0.0.1/hook"}) == (
        400, err("Bad Request: bad webhook: IP address 127.0.0.1 is reserved"))
    for port in ("", ":443", ":80", ":88", ":8443"):
        assert api(strict, "setWebhook", data={"url": f"https://shop.example{port}/h"})[0] == 200


def test_allowed_updates_semantics(fake):
    def allowed():
        return api(fake, "getWebhookInfo")[1]["result"].get("allowed_updates")

    api(fake, "setWebhook", data={"url": "https://shop.example/h",
                                  "allowed_updates": json.dumps(["message", "MY_CHAT_MEMBER"])})
    assert allowed() == ["message", "my_chat_member"]
    api(fake, "setWebhook", data={"url": "https://shop.example/h2"})   # omitted: kept
    assert allowed() == ["message", "my_chat_member"]
    api(fake, "setWebhook", data={"url": "https://shop.example/h3", "allowed_updates": "not json"})
    assert allowed() == ["message", "my_chat_member"]                  # unparsable: ignored
    api(fake, "setWebhook", data={"url": "https://shop.example/h4", "allowed_updates": "[]"})
    assert allowed() is None                                           # [] is the default set
    api(fake, "setWebhook", data={"url": "https://shop.example/h5",
                                  "allowed_updates": json.dumps(["chat_member"])})
    assert allowed() == ["chat_member"]


def test_drop_pending_updates_and_get_updates(fake):
    first = fake.text_update(TOKEN, "one")
    second = fake.text_update(TOKEN, "two")
    status, body = api(fake, "getUpdates")
    assert [u["update_id"] for u in body["result"]] == [first["update_id"], second["update_id"]]
    api(fake, "getUpdates", data={"offset": second["update_id"]})
    assert api(fake, "getWebhookInfo")[1]["result"]["pending_update_count"] == 1
    api(fake, "setWebhook", data={"url": "https://shop.example/h"})
    assert api(fake, "getUpdates") == (409, err(
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
        "delete the webhook first", 409))
    api(fake, "setWebhook", data={"url": "https://shop.example/h", "drop_pending_updates": "true"})
    assert api(fake, "getWebhookInfo")[1]["result"]["pending_update_count"] == 0


def test_send_message_validation(fake):
    chat_id = chat_of(fake)

    def send(**fields):
        return api(fake, "sendMessage", data={"chat_id": chat_id, **fields})

    assert send() == (400, err("Bad Request: message text is empty"))
    assert send(text="   \n ") == (400, err("Bad Request: message text is empty"))
    assert send(text="x" * 4097) == (400, err("Bad Request: message is too long"))
    assert send(text="x" * 4096)[0] == 200
    assert send(text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")[0] == 200   # after parsing
    assert send(text="👍" * 4096)[0] == 200                                     # characters
    assert send(text="hi", parse_mode="BBCode") == (400, err("Bad Request: unsupported parse_mode"))
    assert send(text="a <script> b", parse_mode="HTML") == (400, err(
        'Bad Request: can\'t parse entities: Unsupported start tag "script" at byte offset 2'))
    assert send(text="<b>bold</i>", parse_mode="HTML") == (400, err(
        'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 7, expected "</b>", '
        'found "</i>"'))
    assert send(text="<b>bold", parse_mode="HTML") == (400, err(
        'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"'))
    assert send(text="Price: 10.5", parse_mode="MarkdownV2") == (400, err(
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with "
        "the preceding '\\'"))
    assert send(text="*bold", parse_mode="MarkdownV2") == (400, err(
        "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0"))
    assert send(text="snake_case", parse_mode="Markdown") == (400, err(
        "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 5"))
    assert api(fake, "sendMessage", data={"text": "hi"}) == (400, err("Bad Request: chat_id is empty"))
    assert api(fake, "sendMessage", data={"chat_id": 1, "text": "hi"}) == (
        400, err("Bad Request: chat not found"))
    assert api(fake, "sendMessage", data={"chat_id": "@ann_lee", "text": "hi"}) == (
        400, err("Bad Request: chat not found"))
    # Text checks come before the chat check, length checks after it (Telegram's order).
    assert api(fake, "sendMessage", data={"chat_id": 1}) == (400, err("Bad Request: message text is empty"))
    assert api(fake, "sendMessage", data={"chat_id": 1, "text": "x" * 5000}) == (
        400, err("Bad Request: chat not found"))
    assert send(text="hi", reply_markup="{oops") == (400, err(
        "Bad Request: can't parse reply keyboard markup JSON object"))
    assert send(text="hi", reply_markup=json.dumps({"inline_keyboard": [[{"text": "Just text"}]]})) \
        == (400, err("Bad Request: can't parse inline keyboard button: Text buttons are unallowed "
                     "in the inline keyboard"))
    assert send(text="hi", reply_markup=json.dumps(
        {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]})) == (
        400, err("Bad Request: BUTTON_DATA_INVALID"))


def test_send_message_formatting_and_replies(fake):
    incoming = fake.text_update(TOKEN, "Where is my order?")
    chat_id = incoming["message"]["chat"]["id"]
    status, body = api(fake, "sendMessage", data={
        "chat_id": chat_id, "parse_mode": "MarkdownV2",
        "text": "*Order* _\\#12_ is [here](https://shop.example/o/12)\\! 👍 `code`",
        "reply_parameters": json.dumps({"message_id": incoming["message"]["message_id"]})})
    msg = body["result"]
    assert status == 200 and msg["text"] == "Order #12 is here! 👍 code"
    assert msg["entities"] == [
        {"offset": 0, "length": 5, "type": "bold"},
        {"offset": 6, "length": 3, "type": "italic"},
        {"offset": 13, "length": 4, "type": "text_link", "url": "https://shop.example/o/12"},
        {"offset": 22, "length": 4, "type": "code"},   # 👍 is two UTF-16 units
    ]
    assert msg["reply_to_message"]["text"] == "Where is my order?"
    assert api(fake, "sendMessage", data={"chat_id": chat_id, "text": "x",
                                          "reply_to_message_id": 99999}) == (
        400, err("Bad Request: message to be replied not found"))
    assert api(fake, "sendMessage", data={
        "chat_id": chat_id, "text": "x",
        "reply_parameters": json.dumps({"message_id": 99999, "allow_sending_without_reply": True})
    })[0] == 200
    # Explicit entities without a parse mode; unparsable entities JSON is ignored.
    status, body = api(fake, "sendMessage", json_body={
        "chat_id": chat_id, "text": "Hello Ann", "entities": [{"type": "bold", "offset": 6, "length": 3}]})
    assert body["result"]["entities"] == [{"offset": 6, "length": 3, "type": "bold"}]
    assert api(fake, "sendMessage", data={"chat_id": chat_id, "text": "Hi", "entities": "{"})[0] == 200


def test_send_photo(fake, receiver):
    chat_id = chat_of(fake)

    def send(files=None, **fields):
        return api(fake, "sendPhoto", data={"chat_id": chat_id, **fields}, files=files)

    assert send() == (400, err("Bad Request: there is no photo in the request"))
    assert send(files={"photo": ("a.jpg", jpeg())}, caption="x" * 1025) == (
        400, err("Bad Request: message caption is too long"))
    assert send(files={"photo": ("a.jpg", jpeg())}, caption="x" * 1024)[0] == 200
    assert send(files={"photo": ("a.txt", b"not an image")}) == (
        400, err("Bad Request: IMAGE_PROCESS_FAILED"))
    assert send(files={"photo": ("a.jpg", b"")}) == (400, err("Bad Request: file must be non-empty"))
    assert send(files={"photo": ("a.jpg", jpeg((4000, 100)))}) == (
        400, err("Bad Request: PHOTO_INVALID_DIMENSIONS"))
    too_big = jpeg((64, 64)) + b"\0" * (10 * 2**20)
    assert send(files={"photo": ("big.jpg", too_big)}) == (400, err("Bad Request: PHOTO_SAVE_FILE_INVALID"))
    # attach:// names another part, as in sendMediaGroup.
    status, body = send(files={"pic": ("a.jpg", jpeg())}, photo="attach://pic")
    assert status == 200
    sizes = body["result"]["photo"]
    # Re-sending by file_id gives the whole set of sizes back.
    status, again = send(photo=sizes[0]["file_id"])
    assert [p["file_id"] for p in again["result"]["photo"]] == [p["file_id"] for p in sizes]
    assert send(photo="AgACAgIAAxkBAAIunknown") == (
        400, err("Bad Request: wrong file identifier/HTTP URL specified"))
    doc = api(fake, "sendDocument", data={"chat_id": chat_id},
              files={"document": ("a.pdf", PDF)})[1]["result"]["document"]
    assert send(photo=doc["file_id"]) == (400, err("Bad Request: type of file mismatch"))
    # By URL: loopback URLs are really fetched (the console must serve them), others are not.
    receiver.files["/media/pic.jpg"] = (jpeg((800, 600)), "image/jpeg")
    status, body = send(photo=f"{receiver.url}/media/pic.jpg")
    assert status == 200 and body["result"]["photo"][-1]["width"] == 800
    assert send(photo=f"{receiver.url}/media/missing.jpg") == (
        400, err("Bad Request: failed to get HTTP URL content"))
    assert send(photo="https://cdn.example/pic.jpg") == (
        400, err("Bad Request: wrong file identifier/HTTP URL specified"))
    fake.register_url("https://cdn.example/pic.jpg", jpeg(), "image/jpeg")
    assert send(photo="https://cdn.example/pic.jpg")[0] == 200


def test_send_document(fake, receiver):
    chat_id = chat_of(fake)
    assert api(fake, "sendDocument", data={"chat_id": chat_id}) == (
        400, err("Bad Request: there is no document in the request"))
    status, body = api(fake, "sendDocument", data={"chat_id": chat_id, "caption": "Hi"},
                       files={"document": ("notes.txt", b"hello")})
    doc = body["result"]["document"]
    assert (doc["file_name"], doc["mime_type"], doc["file_size"]) == ("notes.txt", "text/plain", 5)
    gif = jpeg((20, 10), fmt="GIF")
    body = api(fake, "sendDocument", data={"chat_id": chat_id},
               files={"document": ("fun.gif", gif)})[1]["result"]
    assert body["document"]["mime_type"] == "image/gif" and body["animation"]["width"] == 20
    receiver.files["/files/page.html"] = (b"<html></html>", "text/html")
    receiver.files["/files/invoice.pdf"] = (PDF, "application/pdf")
    assert api(fake, "sendDocument", data={"chat_id": chat_id,
                                           "document": f"{receiver.url}/files/page.html"}) == (
        400, err("Bad Request: wrong type of the web page content"))
    body = api(fake, "sendDocument", data={"chat_id": chat_id,
                                           "document": f"{receiver.url}/files/invoice.pdf"})[1]
    assert body["result"]["document"]["file_name"] == "invoice.pdf"
    huge = b"\0" * (50 * 2**20 + 1)
    assert api(fake, "sendDocument", data={"chat_id": chat_id},
               files={"document": ("huge.bin", huge)}) == (413, err("Request Entity Too Large", 413))


def test_chat_actions_and_blocking(fake):
    user = fake.user("Bob", username="bobby")
    incoming = fake.text_update(TOKEN, "hi", user=user)
    chat_id = incoming["message"]["chat"]["id"]
    assert api(fake, "sendChatAction", data={"chat_id": chat_id, "action": "typing"}) == (
        200, {"ok": True, "result": True})
    assert api(fake, "sendChatAction", data={"chat_id": chat_id, "action": "dancing"}) == (
        400, err("Bad Request: wrong parameter action in request"))
    kicked = fake.my_chat_member_update(TOKEN, user, status="kicked")
    new = kicked["my_chat_member"]["new_chat_member"]
    assert (new["status"], new["until_date"], new["user"]["is_bot"]) == ("kicked", 0, True)
    for method, fields in (("sendMessage", {"text": "hi"}), ("sendChatAction", {"action": "typing"}),
                           ("sendPhoto", {}), ("sendDocument", {})):
        files = {"photo": ("a.jpg", jpeg())} if method == "sendPhoto" else \
            {"document": ("a.pdf", PDF)} if method == "sendDocument" else None
        assert api(fake, method, data={"chat_id": chat_id, **fields}, files=files) == (
            403, err("Forbidden: bot was blocked by the user", 403))
    fake.my_chat_member_update(TOKEN, user, status="member")
    assert api(fake, "sendMessage", data={"chat_id": chat_id, "text": "welcome back"})[0] == 200


def test_get_file_and_downloads(fake):
    small = fake.add_file(TOKEN, b"abc", "documents/file_77.txt")
    assert api(fake, "getFile", data={"file_id": small["file_id"]}) == (200, {"ok": True, "result": small})
    r = requests.get(f"{fake.base_url}/file/bot{TOKEN.replace(':', '%3A')}/documents/file_77.txt",
                     timeout=10)
    assert r.status_code == 200 and r.content == b"abc"
    exact = fake.add_file(TOKEN, b"x", "videos/file_1.mp4", file_size=MAX_DOWNLOAD_SIZE)
    assert api(fake, "getFile", data={"file_id": exact["file_id"]})[0] == 200
    over = fake.add_file(TOKEN, b"x", "videos/file_2.mp4", file_size=MAX_DOWNLOAD_SIZE + 1)
    assert api(fake, "getFile", data={"file_id": over["file_id"]}) == (
        400, err("Bad Request: file is too big"))
    assert api(fake, "getFile") == (400, err("Bad Request: file_id not specified"))
    assert api(fake, "getFile", data={"file_id": "nope"}) == (400, err("Bad Request: invalid file_id"))
    assert requests.get(f"{fake.base_url}/file/bot{TOKEN}/documents/none.txt", timeout=10).status_code == 404
    other = "555:other-bot"
    fake.add_bot(other)
    assert api(fake, "getFile", token=other, data={"file_id": small["file_id"]}) == (
        400, err("Bad Request: invalid file_id"))   # file_ids belong to one bot


def test_fail_next(fake):
    chat_id = chat_of(fake)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=2)
    for _ in range(2):
        r = requests.post(f"{fake.base_url}/bot{TOKEN}/sendMessage",
                          data={"chat_id": chat_id, "text": "hi"}, timeout=10)
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert r.json() == err("Too Many Requests: retry after 3", 429, retry_after=3)
        assert api(fake, "getMe")[0] == 200   # other methods are unaffected
    assert api(fake, "sendMessage", data={"chat_id": chat_id, "text": "hi"})[0] == 200


def test_deliver_to_a_webhook(fake, receiver):
    with pytest.raises(NotDelivered):
        fake.deliver(TOKEN, fake.text_update(TOKEN, "too early"))
    api(fake, "setWebhook", data={"url": f"{receiver.url}/tg/abc?x=1", "secret_token": "S3cret_-",
                                  "drop_pending_updates": "true"})
    update = fake.text_update(TOKEN, "Hello 👋 /help")
    assert fake.deliver(TOKEN, update) == 200
    got = receiver.requests[-1]
    assert got["path"] == "/tg/abc?x=1"
    assert got["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "S3cret_-"
    assert got["headers"]["Content-Type"] == "application/json"
    assert json.loads(got["body"]) == update
    assert "👋".encode() in got["body"]   # UTF-8, not \u-escaped
    assert fake.deliver(TOKEN, update, secret_token="forged") == 200
    assert receiver.requests[-1]["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "forged"
    assert fake.deliver(TOKEN, update, secret_token="") == 200
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.requests[-1]["headers"]
    info = api(fake, "getWebhookInfo")[1]["result"]
    assert info["pending_update_count"] == 0 and "last_error_date" not in info
    # A failing console: the error is recorded and the update stays pending.
    receiver.status = 500
    failing = fake.text_update(TOKEN, "again")
    assert fake.deliver(TOKEN, failing) == 500
    info = api(fake, "getWebhookInfo")[1]["result"]
    assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    assert info["pending_update_count"] == 1 and isinstance(info["last_error_date"], int)
    receiver.status, receiver.extra_headers = 302, {"Location": "/elsewhere"}
    assert fake.deliver(TOKEN, failing) == 302   # redirects are not followed
    receiver.status, receiver.extra_headers = 200, {}
    assert fake.deliver(TOKEN, failing) == 200
    assert api(fake, "getWebhookInfo")[1]["result"]["pending_update_count"] == 0


def test_deliver_respects_allowed_updates_and_connection_errors(fake, receiver):
    api(fake, "setWebhook", data={"url": f"{receiver.url}/h", "allowed_updates": '["message"]'})
    with pytest.raises(NotDelivered, match="my_chat_member"):
        fake.deliver(TOKEN, fake.my_chat_member_update(TOKEN, status="kicked"))
    assert api(fake, "getWebhookInfo")[1]["result"]["pending_update_count"] == 0
    dead = Receiver()
    dead.stop()
    api(fake, "setWebhook", data={"url": f"{dead.url}/h"})
    with pytest.raises(ConnectionRefusedError):
        fake.deliver(TOKEN, fake.text_update(TOKEN, "anyone?"))
    assert api(fake, "getWebhookInfo")[1]["result"]["last_error_message"] == "Connection refused"


def test_webhook_answer_can_carry_a_method(fake, receiver):
    api(fake, "setWebhook", data={"url": f"{receiver.url}/h"})
    update = fake.text_update(TOKEN, "ping")
    chat_id = update["message"]["chat"]["id"]
    receiver.content_type = "application/json"
    receiver.body = json.dumps({"method": "sendMessage", "chat_id": chat_id, "text": "pong"}).encode()
    assert fake.deliver(TOKEN, update) == 200
    call = fake.calls_to("sendMessage")[-1]
    assert call.http_method == "WEBHOOK-ANSWER" and call.ok and call.result["text"] == "pong"


def test_concurrent_sends_get_distinct_ids(fake):
    chat_id = chat_of(fake)
    ids, lock = [], threading.Lock()

    def worker():
        for _ in range(10):
            mid = api(fake, "sendMessage", data={"chat_id": chat_id, "text": "hi"})[1]["result"]["message_id"]
            with lock:
                ids.append(mid)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 50


def test_entity_detection_and_utf16_offsets():
    assert find_entities("😀 /start@shop_bot see https://x.example/a?b=1, mail a@b.co #sale") == [
        {"offset": 3, "length": 15, "type": "bot_command"},   # 😀 is two UTF-16 units
        {"offset": 23, "length": 23, "type": "url"},          # without the trailing comma
        {"offset": 53, "length": 6, "type": "email"},
        {"offset": 60, "length": 5, "type": "hashtag"},
    ]
    text, entities = format_text("  <i>a&amp;b</i> &lt;3  ", "HTML", None)
    assert (text, entities) == ("a&b <3", [{"offset": 0, "length": 3, "type": "italic"}])
    text, entities = format_text('<pre><code class="language-python">x = 1</code></pre>', "html", None)
    assert entities == [{"offset": 0, "length": 5, "type": "pre", "language": "python"}]


def test_generated_paths_never_shadow_add_file(fake):
    taken = fake.add_file(TOKEN, b"mine", "photos/file_1.jpg")
    fake.photo_update(TOKEN, jpeg())
    fake.photo_update(TOKEN, jpeg())
    r = requests.get(f"{fake.base_url}/file/bot{TOKEN}/{taken['file_path']}", timeout=10)
    assert r.content == b"mine"


def test_profile_photos(fake):
    """getUserProfilePhotos: checked parameters, square 160/320/640 sizes, stable ids,
    newest first, and python-telegram-bot reads the answer and downloads the photo."""
    user = fake.user("Maya")
    fake.add_chat(TOKEN, user)
    assert api(fake, "getUserProfilePhotos", data={"user_id": user["id"]}) == (
        200, {"ok": True, "result": {"total_count": 0, "photos": []}})
    fake.set_profile_photo(user["id"], jpeg(size=(900, 900), color=(10, 10, 200)))
    fake.set_profile_photo(user["id"], jpeg(size=(700, 700), color=(200, 10, 10)))
    status, body = api(fake, "getUserProfilePhotos", data={"user_id": user["id"], "limit": 1})
    assert status == 200 and body["result"]["total_count"] == 2
    [sizes] = body["result"]["photos"]
    assert [(s["width"], s["height"]) for s in sizes] == [(160, 160), (320, 320), (640, 640)]
    again = api(fake, "getUserProfilePhotos", data={"user_id": user["id"], "limit": 1})[1]
    assert again["result"]["photos"][0] == sizes
    assert api(fake, "getUserProfilePhotos", data={"user_id": "abc"}) == (
        400, err("Bad Request: invalid user_id specified"))
    assert api(fake, "getUserProfilePhotos", data={"user_id": 424242}) == (
        400, err("Bad Request: user not found"))

    async def through_ptb():
        async with ptb(fake) as bot:
            photos = await bot.get_user_profile_photos(user["id"], offset=1, limit=5)
            assert photos.total_count == 2 and len(photos.photos) == 1
            largest = photos.photos[0][-1]
            file = await bot.get_file(largest.file_id)
            return bytes(await file.download_as_bytearray())
    data = run(through_ptb())
    from PIL import Image
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (640, 640) and img.getpixel((320, 320))[2] > 150   # the older, blue one
