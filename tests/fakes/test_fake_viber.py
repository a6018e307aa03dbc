"""The fake Viber server, checked against the documented API and against viberbot (official SDK)."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import viberbot.api.api
from viberbot import Api
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.messages import FileMessage, PictureMessage, TextMessage
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest, ViberDeliveredRequest, ViberFailedRequest,
    ViberMessageRequest, ViberSeenRequest, ViberSubscribedRequest, ViberUnsubscribedRequest)
from viberbot.api.viber_requests.viber_request import ViberRequest

from fakes.viber import ALL_EVENT_TYPES, PLACEHOLDER_NAME, FakeViber, encode, sign

pytestmark = pytest.mark.integration

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "payloads" / "viber"


class Receiver:
    """Stands in for the console: records POSTs, answers `status` + `reply`, serves `files`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.reply = b""
        self.files = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((raw, self.headers))
                self._answer(outer.status, outer.reply)

            def do_GET(self):
                if self.path in outer.files:
                    self._answer(200, outer.files[self.path])
                else:
                    self._answer(404, b"missing")

            def _answer(self, status, data):
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.root}/webhooks/viber/ch_1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def last(self):
        raw, headers = self.requests[-1]
        return raw, headers.get("X-Viber-Content-Signature")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeViber()
    f.allow_http_webhooks = True   # the stand-in console speaks plain http on 127.0.0.1
    yield f
    f.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def http():
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture
def call(fake, http):
    def _call(endpoint, body=None, token=TOKEN, method="POST"):
        headers = {"X-Viber-Auth-Token": token} if token else {}
        resp = http.request(method, f"{fake.base_url}/{endpoint}", json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()
    return _call


@pytest.fixture
def bot(fake, receiver, call):
    fake.add_bot(TOKEN)
    assert call("set_webhook", {"url": receiver.url, "send_name": True, "send_photo": True,
                                "event_types": ["delivered", "seen", "failed",
                                                "conversation_started"]})["status"] == 0
    receiver.requests.clear()
    return fake


@pytest.fixture
def viber(fake, monkeypatch):
    # viberbot has no base-URL option: Api() reads this module constant when it is built.
    monkeypatch.setattr(viberbot.api.api, "VIBER_BOT_API_URL", fake.base_url)
    return Api(BotConfiguration(auth_token=TOKEN, name="Shop", avatar=None))


def text_body(receiver_id, **extra):
    body = {"receiver": receiver_id, "type": "text", "text": "Hi", "sender": {"name": "Shop"}}
    body.update(extra)
    return body


# ---- callbacks: shapes, signatures, viberbot's parser -------------------------------------

BUILDERS = {
    "webhook": lambda f, u: f.webhook_event(TOKEN),
    "message": lambda f, u: f.message_event(TOKEN, u, text="Привіт"),
    "message_picture": lambda f, u: f.message_event(TOKEN, u, text="look", media_type="picture"),
    "message_video": lambda f, u: f.message_event(TOKEN, u, media_type="video", duration=4),
    "message_file": lambda f, u: f.message_event(TOKEN, u, media_type="file",
                                                 file_name="invoice.pdf"),
    "message_sticker": lambda f, u: f.message_event(TOKEN, u, media_type="sticker"),
    "message_contact": lambda f, u: f.message_event(TOKEN, u, media_type="contact"),
    "message_location": lambda f, u: f.message_event(TOKEN, u, media_type="location"),
    "message_url": lambda f, u: f.message_event(TOKEN, u, media_type="url",
                                                media_url="https://shop.example/item/7"),
    "subscribed": lambda f, u: f.subscribed_event(TOKEN, u),
    "unsubscribed": lambda f, u: f.unsubscribed_event(TOKEN, u),
    "conversation_started": lambda f, u: f.conversation_started_event(TOKEN, u, context="site"),
    "delivered": lambda f, u: f.delivered_event(5741311803571721087, u["id"]),
    "seen": lambda f, u: f.seen_event(5741311803571721087, u["id"]),
    "failed": lambda f, u: f.failed_event(5741311803571721087, u["id"]),
}
PARSED_AS = {"webhook": ViberRequest, "subscribed": ViberSubscribedRequest,
             "unsubscribed": ViberUnsubscribedRequest,
             "conversation_started": ViberConversationStartedRequest,
             "delivered": ViberDeliveredRequest, "seen": ViberSeenRequest,
             "failed": ViberFailedRequest}


@pytest.mark.parametrize("name", BUILDERS)
def test_callbacks_parse_in_viberbot_and_carry_a_signature_it_accepts(name, bot, receiver,
                                                                       viber):
    user = bot.user(name="Анна Коваль", avatar="https://avatars.example/a.jpg")
    event = BUILDERS[name](bot, user)
    assert bot.deliver(TOKEN, event) == 200
    raw, signature = receiver.last()

    assert raw == encode(event)
    assert signature == sign(TOKEN, raw) == hmac.new(TOKEN.encode(), raw,
                                                     hashlib.sha256).hexdigest()
    assert viber.verify_signature(raw, signature)
    assert not viber.verify_signature(raw.replace(b'"timestamp":', b'"timestamp": '), signature)

    parsed = viber.parse_request(raw)
    assert type(parsed) is (ViberMessageRequest if name.startswith("message") else PARSED_AS[name])
    assert isinstance(event["timestamp"], int) and event["timestamp"] > 1_600_000_000_000
    assert 2**53 < event["message_token"] < 2**63
    assert event["chat_hostname"].startswith("SN-")


def test_message_callbacks_match_the_documented_fields(bot):
    user = bot.user(name="Anna")
    file_msg = bot.message_event(TOKEN, user, media_type="file", file_name="a.pdf")["message"]
    assert file_msg["type"] == "file" and file_msg["file_name"] == "a.pdf"
    assert file_msg["file_size"] == len(b"%PDF-1.4\n%fake\n") and "size" not in file_msg
    pic = bot.message_event(TOKEN, user, media_type="picture")["message"]
    assert pic["text"] == "" and pic["media"].startswith(bot.root)
    sticker = bot.message_event(TOKEN, user, media_type="sticker", sticker_id="114407")["message"]
    assert sticker["sticker_id"] == 114407
    event = bot.message_event(TOKEN, user, text="hi")
    assert list(event) == ["event", "timestamp", "chat_hostname", "message_token", "sender",
                           "message", "silent"]
    assert list(event["sender"]) == ["id", "name", "language", "country", "api_version"]
    started = bot.conversation_started_event(TOKEN, bot.user())
    assert "context" not in started and started["subscribed"] is False and started["type"] == "open"


def test_inbound_media_is_downloadable_until_it_expires(bot, http):
    media = bot.message_event(TOKEN, bot.user(), media_type="picture")["message"]["media"]
    resp = http.get(media)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert http.head(media).status_code == 200
    bot.expire_media(media)
    assert http.get(media).status_code == 404
    assert len(bot.media_downloads) == 3


def test_callbacks_are_ascii_json_with_upper_case_escapes_like_viber(bot):
    event = bot.message_event(TOKEN, bot.user(name="Олена"), text='é "q" \\u00e9 / x')
    raw = encode(event)
    assert b"\\u041E\\u043B\\u0435\\u043D\\u0430" in raw       # Viber writes \u043B, not \u043b
    assert b'\\u00E9 \\"q\\" \\\\u00e9 / x' in raw               # a literal backslash stays as is
    assert json.loads(raw) == event
    assert raw.isascii() and b", " not in raw


def test_deliver_signature_override_omit_and_retries(bot, receiver):
    event = bot.seen_event(1, "u=")
    bot.deliver(TOKEN, event, signature="deadbeef")
    assert receiver.last()[1] == "deadbeef"
    bot.deliver(TOKEN, event, signature="")
    assert receiver.last()[1] is None
    receiver.status = 500
    assert bot.deliver(TOKEN, event, retries=2) == 500
    assert len(receiver.requests) == 5
    assert [d.http_status for d in bot.deliveries[-3:]] == [500, 500, 500]


def test_deliver_skips_optional_events_the_webhook_did_not_ask_for(fake, receiver, call):
    fake.add_bot(TOKEN)
    assert call("set_webhook", {"url": receiver.url, "event_types": []})["event_types"] == []
    user = fake.user()
    assert fake.deliver(TOKEN, fake.delivered_event(7, user)) is None
    assert fake.deliver(TOKEN, fake.conversation_started_event(TOKEN, user)) is None
    assert fake.deliver(TOKEN, fake.message_event(TOKEN, user)) == 200   # always delivered
    assert [json.loads(raw)["event"] for raw, _ in receiver.requests] == ["webhook", "message"]


def test_names_and_photos_are_placeholders_unless_the_webhook_asked(fake, receiver, call):
    fake.add_bot(TOKEN)
    call("set_webhook", {"url": receiver.url})
    user = fake.user(name="Anna", avatar="https://avatars.example/a.jpg")
    sender = fake.message_event(TOKEN, user)["sender"]
    assert sender["name"] == PLACEHOLDER_NAME and "avatar" not in sender
    call("set_webhook", {"url": receiver.url, "send_name": True, "send_photo": True})
    sender = fake.message_event(TOKEN, user)["sender"]
    assert sender["name"] == "Anna" and sender["avatar"] == "https://avatars.example/a.jpg"


def test_a_conversation_started_reply_is_checked_as_a_welcome_message(bot, receiver):
    receiver.reply = json.dumps({"sender": {"name": "Shop"}, "type": "text",
                                 "text": "Welcome!"}).encode()
    assert bot.deliver(TOKEN, bot.conversation_started_event(TOKEN, bot.user())) == 200
    assert bot.deliveries[-1].welcome["text"] == "Welcome!"
    assert bot.deliveries[-1].welcome_status == 0
    receiver.reply = json.dumps({"type": "text", "text": "no sender"}).encode()
    bot.deliver(TOKEN, bot.conversation_started_event(TOKEN, bot.user()))
    assert bot.deliveries[-1].welcome_status == 4


@pytest.mark.parametrize("name", BUILDERS)
def test_fixture_files_are_real_shapes(name, fake, viber):
    raw = (FIXTURES / f"{name}.json").read_bytes()
    assert raw == encode(json.loads(raw)), "fixtures are stored as exact wire bodies"
    parsed = viber.parse_request(raw)
    event = json.loads(raw)
    fake.add_bot(TOKEN)
    built = BUILDERS[name](fake, fake.user(avatar="https://avatars.example/a.jpg"))
    assert list(event) == list(built)
    if "message" in event and isinstance(event["message"], dict):
        assert isinstance(parsed, ViberMessageRequest)
        assert sorted(event["message"]) == sorted(built["message"])


# ---- set_webhook ---------------------------------------------------------------------------

def test_set_webhook_posts_a_signed_check_and_stores_the_registration(fake, receiver, call,
                                                                     viber):
    fake.add_bot(TOKEN)
    answer = call("set_webhook", {"url": receiver.url, "event_types": ["delivered", "seen"],
                                  "send_name": True, "send_photo": False})
    assert answer == {"status": 0, "status_message": "ok", "event_types": ["delivered", "seen"]}
    raw, signature = receiver.last()
    check = json.loads(raw)
    assert list(check) == ["event", "timestamp", "chat_hostname", "message_token"]
    assert check["event"] == "webhook" and viber.verify_signature(raw, signature)
    assert fake.webhook(TOKEN) == {"url": receiver.url, "event_types": ["delivered", "seen"],
                                   "send_name": True, "send_photo": False}
    assert call("set_webhook", {"url": receiver.url})["event_types"] == ALL_EVENT_TYPES
    assert fake.webhook(TOKEN)["event_types"] is None


def test_set_webhook_fails_when_the_check_is_not_answered_200(fake, receiver, call):
    fake.add_bot(TOKEN)
    receiver.status = 204
    answer = call("set_webhook", {"url": receiver.url})
    assert answer["status"] == 1 and "status_message" not in answer
    assert fake.webhook(TOKEN) is None
    fake.webhook_failure_style = "legacy"
    receiver.stop()
    answer = call("set_webhook", {"url": receiver.url})
    assert answer["status"] == 1 and answer["status_message"].startswith("Result[HttpRequest[POST")


def test_set_webhook_requires_https_and_valid_fields(fake, receiver, call):
    fake.add_bot(TOKEN)
    fake.allow_http_webhooks = False
    assert call("set_webhook", {"url": receiver.url}) == {"status": 1,
                                                          "status_message": "invalidUrl"}
    assert receiver.requests == []
    fake.allow_http_webhooks = True
    assert call("set_webhook", {})["status"] == 4
    assert call("set_webhook", {"url": "not a url"})["status"] == 1
    assert call("set_webhook", {"url": receiver.url, "event_types": ["typing"]})["status"] == 3
    assert call("set_webhook", {"url": receiver.url, "send_name": "yes"})["status"] == 3


def test_set_webhook_with_an_empty_url_removes_it(bot, call):
    assert call("set_webhook", {"url": ""})["status"] == 0
    assert bot.webhook(TOKEN) is None
    assert "webhook" not in call("get_account_info")


# ---- auth, account, users ------------------------------------------------------------------

def test_auth_token_in_header_or_body(fake, call, http):
    fake.add_bot(TOKEN)
    assert call("get_account_info", token=None) == {"status": 2,
                                                    "status_message": "missing_auth_token"}
    assert call("get_account_info", token="nope") == {"status": 2,
                                                      "status_message": "invalidAuthToken"}
    assert call("get_account_info", {"auth_token": TOKEN}, token=None)["status"] == 0
    resp = http.post(f"{fake.base_url}/get_account_info", data="{not json",
                     headers={"X-Viber-Auth-Token": TOKEN})
    assert resp.json()["status"] == 3
    assert http.post(f"{fake.base_url}/broadcast_message").status_code == 404


def test_get_account_info_by_get_or_post(bot, call, receiver):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    for method in ("GET", "POST"):
        info = call("get_account_info", method=method)
        assert {"status", "status_message", "id", "name", "uri", "icon", "background",
                "category", "subcategory", "location", "country", "webhook", "event_types",
                "subscribers_count", "members"} <= set(info)
        assert info["webhook"] == receiver.url and info["subscribers_count"] == 1
        assert info["id"].startswith("pa:") and info["name"] == "Shop"


def test_get_user_details_and_its_limit(bot, call):
    user = bot.user(name="Anna", country="UA", language="uk")
    assert call("get_user_details", {"id": user["id"]})["status"] == 5   # never met the bot
    bot.message_event(TOKEN, user)
    answer = call("get_user_details", {"id": user["id"]})
    assert answer["status"] == 0 and answer["user"]["name"] == "Anna"
    assert {"primary_device_os", "viber_version", "mcc", "mnc",
            "device_type"} <= set(answer["user"])
    assert call("get_user_details", {"id": user["id"]})["status"] == 0
    assert call("get_user_details", {"id": user["id"]})["status"] == 12   # twice per 12 hours
    assert call("get_user_details", {})["status"] == 4


def test_get_online(bot, call):
    anna, olga = bot.user(), bot.user()
    bot.subscribe(TOKEN, anna)
    bot.set_online(anna, 0)
    users = call("get_online", {"ids": [anna["id"], olga["id"]]})["users"]
    assert users == [{"id": anna["id"], "online_status": 0, "online_status_message": "online"},
                     {"id": olga["id"], "online_status": 4,
                      "online_status_message": "unavailable"}]
    assert call("get_online", {})["status"] == 4
    assert call("get_online", {"ids": ["x="] * 101})["status"] == 3


# ---- send_message --------------------------------------------------------------------------

def test_send_text_to_a_subscriber(bot, call):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    answer = call("send_message", text_body(user["id"], tracking_data="conv-77",
                                            min_api_version=7))
    assert answer["status"] == 0 and answer["status_message"] == "ok"
    assert 2**53 < answer["message_token"] < 2**63
    assert answer["chat_hostname"].startswith("SN-CHAT-") and answer["billing_status"] == 3
    sent = bot.calls_to("send_message", TOKEN)[-1]
    assert sent.body["text"] == "Hi" and sent.status == 0 and sent.response == answer
    # tracking_data comes back with the user's reply; a subscribe clears it
    assert bot.message_event(TOKEN, user)["message"]["tracking_data"] == "conv-77"
    assert call("send_message", text_body(user["id"]))["billing_status"] == 1   # in session
    bot.subscribed_event(TOKEN, user)
    assert "tracking_data" not in bot.message_event(TOKEN, user)["message"]


def test_send_only_to_subscribed_registered_users(bot, call):
    user = bot.user(api_version=3)
    assert call("send_message", text_body("01234567890A="))["status"] == 5
    assert call("send_message", text_body(user["id"])) == {
        "status": 6, "status_message": "notSubscribed",
        "message_token": bot.calls[-1].response["message_token"],
        "chat_hostname": bot.calls[-1].response["chat_hostname"]}
    bot.message_event(TOKEN, user)            # a user's first message subscribes them
    assert call("send_message", text_body(user["id"]))["status"] == 0
    assert call("send_message", text_body(user["id"], min_api_version=7))["status"] == 13
    bot.unsubscribed_event(TOKEN, user)
    assert call("send_message", text_body(user["id"]))["status"] == 6
    bot.subscribe(TOKEN, user)
    bot.deregister(user)
    assert call("send_message", text_body(user["id"]))["status"] == 5
    call("set_webhook", {"url": ""})
    assert call("send_message", text_body(user["id"]))["status"] == 10


def test_at_most_100_unanswered_messages_per_hour(bot, call):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    for _ in range(100):
        assert call("send_message", text_body(user["id"]))["status"] == 0
    answer = call("send_message", text_body(user["id"]))
    assert answer["status"] == 12 and answer["status_message"] == "Too many requests"
    bot.message_event(TOKEN, user)            # the user replied: the count starts again
    assert call("send_message", text_body(user["id"]))["status"] == 0


INVALID = [
    ({"sender": None}, 4),
    ({"sender": {"name": "x" * 29}}, 3),
    ({"sender": {"name": "Shop", "avatar": "ftp://a/b.jpg"}}, 3),
    ({"type": None}, 4),
    ({"type": "voice"}, 3),
    ({"text": None}, 4),
    ({"text": "x" * 7001}, 3),
    ({"tracking_data": "x" * 4001}, 3),
    ({"min_api_version": "7"}, 3),
    ({"receiver": None}, 4),
    ({"type": "picture", "media": "http://127.0.0.1/p.jpg", "text": None}, 4),
    ({"type": "picture", "media": "http://127.0.0.1/p.jpg", "text": "x" * 769}, 3),
    ({"type": "picture", "media": "http://127.0.0.1/p.pdf", "text": ""}, 3),
    ({"type": "video", "media": "http://127.0.0.1/v.mp4"}, 4),
    ({"type": "video", "media": "http://127.0.0.1/v.mp4", "size": 27262977}, 3),
    ({"type": "video", "media": "http://127.0.0.1/v.mp4", "size": 10, "duration": 181}, 3),
    ({"type": "file", "media": "http://127.0.0.1/f.pdf", "size": 10}, 4),
    ({"type": "file", "media": "http://127.0.0.1/f.pdf", "size": 52428801,
      "file_name": "f.pdf"}, 3),
    ({"type": "file", "media": "http://127.0.0.1/f.exe", "size": 10, "file_name": "f.exe"}, 3),
    ({"type": "file", "media": "http://127.0.0.1/f.pdf", "size": 10, "file_name": "f.apk"}, 3),
    ({"type": "file", "media": "http://127.0.0.1/download", "size": 10,
      "file_name": "f.pdf"}, 3),
    ({"type": "file", "media": "http://127.0.0.1/f.pdf", "size": 10,
      "file_name": "x" * 253 + ".pdf"}, 3),
    ({"type": "location", "location": {"lat": 91, "lon": 0}}, 3),
    ({"type": "location"}, 4),
    ({"type": "contact", "contact": {"name": "A", "phone_number": "+" + "1" * 18}}, 3),
    ({"type": "contact", "contact": {"name": "A"}}, 4),
    ({"type": "sticker"}, 4),
    ({"type": "url", "media": "https://a.example/" + "x" * 2000}, 3),
    ({"type": "rich_media", "rich_media": {"Type": "rich_media", "Buttons": []}}, 3),
]


@pytest.mark.parametrize("change,status", INVALID)
def test_send_message_validation(change, status, bot, call):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    body = {k: v for k, v in {**text_body(user["id"]), **change}.items() if v is not None}
    assert call("send_message", body)["status"] == status
    assert bot.calls[-1].media_fetches == []


def test_bodies_over_30_kb_are_refused(bot, call):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    body = text_body(user["id"], keyboard={"Type": "keyboard", "Buttons": [{"x": "y" * 31000}]})
    assert call("send_message", body)["status"] == 3


def test_media_is_fetched_from_the_console_before_sending(bot, call, receiver):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    receiver.files["/media/9/report.pdf"] = b"%PDF-1.7 report"
    receiver.files["/media/9/photo.png"] = b"\x89PNG fake"
    ok = call("send_message", text_body(user["id"], type="file", text=None, size=15,
                                        file_name="report.pdf",
                                        media=f"{receiver.root}/media/9/report.pdf"))
    assert ok["status"] == 0
    fetch, = bot.calls[-1].media_fetches
    assert fetch.ok and fetch.length == 15 and fetch.url.endswith("/report.pdf")

    missing = call("send_message", text_body(user["id"], type="picture", text="",
                                             media=f"{receiver.root}/media/9/gone.png",
                                             thumbnail=f"{receiver.root}/media/9/photo.png"))
    assert missing["status"] == 1
    assert bot.calls[-1].media_fetches[0].http_status == 404

    bad_thumb = call("send_message", text_body(user["id"], type="picture", text="",
                                               media=f"{receiver.root}/media/9/photo.png",
                                               thumbnail=f"{receiver.root}/media/9/t.jpg"))
    assert bad_thumb["status"] == 1 and [f.ok for f in bot.calls[-1].media_fetches] == [True,
                                                                                         False]
    elsewhere = call("send_message", text_body(user["id"], type="picture", text="",
                                               media="https://cdn.example/p.png"))
    assert elsewhere["status"] == 1
    assert "not reachable" in bot.calls[-1].media_fetches[0].error


def test_fail_next_injects_viber_statuses_and_http_errors(bot, call, http):
    user = bot.user()
    bot.subscribe(TOKEN, user)
    bot.fail_next("send_message", 12, "tooManyRequests", times=2)
    assert call("send_message", text_body(user["id"]))["status_message"] == "tooManyRequests"
    assert call("send_message", text_body(user["id"]))["status"] == 12
    assert call("send_message", text_body(user["id"]))["status"] == 0
    bot.fail_next("send_message", http_status=503)
    resp = http.post(f"{bot.base_url}/send_message", json=text_body(user["id"]),
                     headers={"X-Viber-Auth-Token": TOKEN})
    assert resp.status_code == 503 and resp.text.startswith("<html>")
    assert bot.calls[-1].http_status == 503 and bot.calls[-1].body["text"] == "Hi"
    bot.fail_next("set_webhook", 1, "invalidUrl")
    assert call("set_webhook", {"url": "https://x.example"})["status"] == 1


def test_concurrent_sends_get_unique_tokens(bot):
    users = [bot.user() for _ in range(10)]
    for u in users:
        bot.subscribe(TOKEN, u)
    tokens, errors = [], []

    def send(u):
        s = requests.Session()
        s.trust_env = False
        for _ in range(5):
            r = s.post(f"{bot.base_url}/send_message", json=text_body(u["id"]),
                       headers={"X-Viber-Auth-Token": TOKEN}).json()
            (tokens if r["status"] == 0 else errors).append(r.get("message_token", r))

    threads = [threading.Thread(target=send, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(tokens)) == 50
    assert len(bot.calls_to("send_message")) == 50


# ---- viberbot as an independent client ----------------------------------------------------

def test_viberbot_client_against_the_fake(fake, receiver, viber):
    fake.add_bot(TOKEN, name="Shop")
    assert viber.set_webhook(receiver.url, ["delivered", "seen"]) == ["delivered", "seen"]
    assert viber.verify_signature(*receiver.last())
    assert fake.calls_to("set_webhook")[-1].body["is_inline"] is False   # an SDK extra
    assert viber.get_account_info()["webhook"] == receiver.url

    user = fake.user(name="Anna")
    fake.subscribe(TOKEN, user)
    picture = fake.serve_media(b"\x89PNG fake", "image/png", "cat.png")
    document = fake.serve_media(b"%PDF-1.7", "application/pdf", "terms.pdf")
    tokens = viber.send_messages(user["id"], [
        TextMessage(text="Hello", tracking_data="conv-1"),
        PictureMessage(media=picture, text="A cat"),
        FileMessage(media=document, size=8, file_name="terms.pdf"),
    ])
    assert len(set(tokens)) == 3 and all(2**53 < t < 2**63 for t in tokens)
    sent = fake.calls_to("send_message", TOKEN)
    assert [c.body["type"] for c in sent] == ["text", "picture", "file"]
    assert sent[0].headers.get("X-Viber-Auth-Token") is None
    assert sent[0].body["auth_token"] == TOKEN and sent[0].body["sender"] == {"name": "Shop",
                                                                              "avatar": None}
    assert sent[1].media_fetches[0].ok

    with pytest.raises(Exception, match="failed with status: 6"):
        viber.send_messages(fake.user()["id"], [TextMessage(text="x")])
    assert viber.get_user_details(user["id"])["name"] == "Anna"
    assert viber.get_online([user["id"]])[0]["online_status"] == 1
    assert viber.unset_webhook() == []
    assert fake.webhook(TOKEN) is None
