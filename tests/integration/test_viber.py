"""Viber end to end: the console against a fake Viber REST API server (tests/fakes/viber.py)
that verifies our webhook during set_webhook, signs its callbacks, validates what we send
and downloads our media links the way Viber does."""
import re

import pytest

from fakes.viber import FakeViber
from helpers import contact_avatar, jpeg_bytes, png_bytes
from stack import receive_until, running_stack, wait_for

pytestmark = pytest.mark.integration
TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
OTHER_TOKEN = "5564c7bd23456789-f13d6a23285916a0-ebfd0dcc6559d62a"
PNG = png_bytes(size=(40, 30))
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def viber():
    fake = FakeViber()
    fake.allow_http_webhooks = True   # the stack speaks plain http on 127.0.0.1
    fake.add_bot(TOKEN, name="Shop", uri="shopbot")
    yield fake
    fake.stop()


@pytest.fixture
def stack(tmp_path, viber):
    with running_stack(tmp_path, extra_env={"VIBER_API_URL": viber.base_url}) as s:
        yield s


@pytest.fixture
def count_events(stack):
    """How many raw callbacks the console stored (read from the stack's database)."""
    from app.extensions import db
    from app.models import InboundEvent
    app = stack.app()

    def count():
        with app.app_context():
            try:
                return db.session.scalar(db.select(db.func.count(InboundEvent.id)))
            finally:
                db.session.remove()
    return count


def connect(admin, stack, token=TOKEN, name="Viber shop"):
    return admin.http.post(stack.base_url + "/settings/channels/new/viber",
                           data={"name": name, "queue": stack.data["support_id"], "token": token,
                                 "csrf_token": admin.token}, allow_redirects=False)


def test_connect_check_token_and_register_webhook(stack, viber, operator, count_events):
    admin = operator("ada@example.com")
    assert "Viber" in admin.get("/settings/channels").text
    resp = connect(admin, stack)
    assert resp.status_code == 302, resp.text[:500]
    page = admin.get(resp.headers["Location"]).text
    assert "@shopbot" in page and TOKEN not in page
    hook = viber.webhook(TOKEN)
    public_id = re.search(r"/webhooks/viber/([\w-]+)", hook["url"]).group(1)
    assert hook["url"] == f"{stack.base_url}/webhooks/viber/{public_id}"
    assert set(hook["event_types"]) == {"delivered", "seen", "failed", "subscribed",
                                        "unsubscribed", "conversation_started"}
    assert hook["send_name"] is True and hook["send_photo"] is True
    # Viber's check reached the console during set_webhook, signed, and got a 200; nothing kept.
    [check] = [d for d in viber.deliveries if d.event["event"] == "webhook"]
    assert check.http_status == 200 and check.signature
    assert count_events() == 0
    # Every call carried the token in the header.
    assert all(c.headers.get("X-Viber-Auth-Token") == TOKEN for c in viber.calls_to("set_webhook"))
    # The same bot twice: a clear refusal, nothing created.
    again = connect(admin, stack, name="Copy")
    assert again.status_code == 400 and "already connected" in again.text
    # A token Viber does not know; a paste mistake caught before asking Viber.
    bad = connect(admin, stack, token=OTHER_TOKEN)
    assert bad.status_code == 400 and "Viber refused the token" in bad.text
    assert "not valid" in bad.text
    pasted = connect(admin, stack, token=f"Token: {TOKEN}")
    assert pasted.status_code == 400 and "does not look like a Viber bot token" in pasted.text
    # Viber cannot verify the webhook: a readable refusal and no half-made channel.
    viber.add_bot(OTHER_TOKEN, name="Other", uri="otherbot")
    viber.fail_next("set_webhook", 1, False)   # today's answer: status 1, no status_message
    refused = connect(admin, stack, token=OTHER_TOKEN, name="Other")
    assert refused.status_code == 400 and "did not accept the webhook" in refused.text
    assert "Other" not in admin.get("/settings/channels").text
    # Re-register ("actualize") shows the provider's answer.
    channel_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    answer = admin.post(f"/settings/channels/{channel_id}/webhook", {"csrf_token": admin.token})
    assert answer.status_code == 200 and "Registered" in answer.text
    assert hook["url"] in answer.text
    assert len(viber.calls_to("set_webhook", TOKEN)) == 2
    # The health check reads the webhook back from get_account_info.
    check = admin.post(f"/settings/channels/{channel_id}/health", {"csrf_token": admin.token})
    assert "Token valid" in check.text and "Webhook registered here" in check.text


def test_conversation_both_ways(stack, viber, operator, count_events):
    admin = operator("ada@example.com")
    assert connect(admin, stack).status_code == 302
    olga = operator("olga@example.com")
    olga.post("/workspace/presence", {"presence": "active"})
    anna = viber.user(name="Анна Коваль",
                      avatar=viber.serve_media(jpeg_bytes(), "image/jpeg", "anna.jpg"))
    ws = olga.websocket()
    try:
        receive_until(ws, lambda f: 'id="ws-state"' in f)
        # Subscribing opens no chat; writing does, live for the Active operator.
        assert viber.deliver(TOKEN, viber.subscribed_event(TOKEN, anna)) == 200
        first = viber.message_event(TOKEN, anna, text="Привіт from Viber")
        assert viber.deliver(TOKEN, first) == 200
        frame = receive_until(ws, lambda f: "Привіт from Viber" in f and "waiting-list" in f)
        assert "Анна Коваль" in frame
        chat_id = re.search(r'waiting-chat-(\d+)', frame).group(1)
        # Her avatar (a link in the callback) is copied into our storage for the card.
        _contact_id, avatar = wait_for(lambda: contact_avatar(olga, chat_id), message="avatar")
        assert avatar.startswith(b"\xff\xd8")
        stored = count_events()
        # Viber retrying the same callback creates nothing new.
        assert viber.deliver(TOKEN, first) == 200
        # A forged or unsigned callback is refused and stores nothing.
        forged = viber.message_event(TOKEN, anna, text="forged")
        assert viber.deliver(TOKEN, forged, signature="0" * 64) == 401
        assert viber.deliver(TOKEN, forged, signature="") == 401
        assert count_events() == stored
        # A picture is downloaded into our storage when it arrives (its link expires).
        picture = viber.message_event(TOKEN, anna, text="my parcel", media_type="picture")
        assert viber.deliver(TOKEN, picture) == 200
        receive_until(ws, lambda f: "my parcel" in f and "<img" in f)
        assert any(p.startswith("/media/") for p in viber.media_downloads)

        assert olga.post(f"/workspace/chats/{chat_id}/accept").status_code == 200
        assert olga.post(f"/workspace/chats/{chat_id}/messages",
                         {"text": "Hello from the team"}).status_code == 204
        wait_for(lambda: viber.calls_to("send_message", TOKEN), message="send_message")
        text_call = viber.calls_to("send_message", TOKEN)[-1]
        assert text_call.status == 0
        assert text_call.body == {"receiver": anna["id"], "sender": {"name": "Shop"},
                                  "type": "text", "text": "Hello from the team"}
        frame = receive_until(ws, lambda f: "Hello from the team" in f and "status-sent" in f)
        text_id = re.search(r'id="message-(\d+)" class="msg msg-out status-sent"', frame).group(1)

        # An image goes as a picture Viber downloads from our signed public link.
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "label"},
                  files={"file": ("label.png", PNG, "image/png")})
        wait_for(lambda: len(viber.calls_to("send_message", TOKEN)) >= 2, message="picture")
        pic = viber.calls_to("send_message", TOKEN)[-1]
        assert pic.status == 0, pic.response
        assert pic.body["type"] == "picture" and pic.body["text"] == "label"
        assert pic.body["media"].startswith(stack.base_url + "/public/files/")
        assert pic.body["media"].endswith("/label.png")
        [fetch] = pic.media_fetches
        assert fetch.ok and fetch.content_type == "image/png" and fetch.length > 0
        # Another file goes as a file: media, size and name.
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": ""},
                  files={"file": ("policy.pdf", PDF, "application/pdf")})
        wait_for(lambda: len(viber.calls_to("send_message", TOKEN)) >= 3, message="file")
        doc = viber.calls_to("send_message", TOKEN)[-1]
        assert doc.status == 0, doc.response
        assert (doc.body["type"], doc.body["file_name"], doc.body["size"]) == \
            ("file", "policy.pdf", len(PDF))
        [fetch] = doc.media_fetches
        assert fetch.ok and fetch.length == len(PDF)
        # The longest text Viber takes, in Cyrillic, fits its 30 KB body limit.
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "Я" * 7000})
        wait_for(lambda: len(viber.calls_to("send_message", TOKEN)) >= 4, message="long text")
        assert viber.calls_to("send_message", TOKEN)[-1].status == 0

        # Delivered, then seen: our message's status follows, live.
        token = text_call.response["message_token"]
        delivered = viber.delivered_event(token, anna)
        assert viber.deliver(TOKEN, delivered) == 200
        receive_until(ws, lambda f: f'id="message-{text_id}" class="msg msg-out status-delivered"' in f)
        stored = count_events()
        assert viber.deliver(TOKEN, delivered) == 200   # a duplicate stores nothing
        assert count_events() == stored
        assert viber.deliver(TOKEN, viber.seen_event(token, anna)) == 200
        receive_until(ws, lambda f: f'id="message-{text_id}" class="msg msg-out status-read"' in f)

        # The customer unsubscribes: the reply fails with a readable reason.
        assert viber.deliver(TOKEN, viber.unsubscribed_event(TOKEN, anna)) == 200
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "are you there?"})
        frame = receive_until(ws, lambda f: "status-failed" in f, timeout=20)
        assert "unsubscribed from the bot" in frame
        assert viber.calls_to("send_message", TOKEN)[-1].status == 6
    finally:
        ws.close()
