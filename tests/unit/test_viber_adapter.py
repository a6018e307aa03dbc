"""The Viber adapter's pure parts: parsing callbacks, verifying signatures, reading errors,
shaping send_message bodies; and receipts moving our messages' status through the webhook.
(End to end against a fake Viber server: tests/integration/test_viber.py.)"""
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from app.channels import (InboundMessage, InboundReceipt, InboundStatus, OutboundAttachment,
                          OutboundMessage)
from app.channels.viber import ViberAdapter
from app.extensions import db
from app.models import Channel, Chat, ContactIdentity, InboundEvent, Message
from app.services import secrets

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "payloads" / "viber"
USER_ID = "jc9HsWTZ2Yf2NkRZ8KcNug=="


def adapter(**settings):
    return ViberAdapter({"channel_id": 1, "bot_name": "Shop", **settings}, {"token": TOKEN})


def raw(name) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def load(name) -> dict:
    return json.loads(raw(name))


def sign(body: bytes, token=TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def test_text_message():
    msg, status = adapter().parse(load("message"))
    assert isinstance(msg, InboundMessage)
    assert (msg.sender_id, msg.external_id, msg.text, msg.sender_name) == \
        (USER_ID, "5741311803571729006", "Привіт", "Анна Коваль")
    assert msg.sent_at.year == 2025 and msg.attachments == []
    assert msg.sender_details == {"avatar_url": "https://media.example.com/avatar/anna.jpg",
                                  "language": "uk", "country": "UA"}
    # Writing subscribes the user (Viber sends no "subscribed" for it).
    assert isinstance(status, InboundStatus) and status.reachable and status.sender_id == USER_ID
    assert adapter().event_key(load("message")) == ("message:5741311803571729006", USER_ID)


def test_media_messages_become_attachments_with_their_links():
    [msg, _] = adapter().parse(load("message_picture"))
    [att] = msg.attachments
    assert (att.media_ref, att.is_image, att.mime) == \
        ("https://media.example.com/ah6mg9j9/photo.jpg", True, "image/jpeg")
    assert msg.text == "look"
    [msg, _] = adapter().parse(load("message_file"))
    [att] = msg.attachments
    assert (att.filename, att.mime, att.size, att.is_image) == \
        ("invoice.pdf", "application/pdf", 15, False)
    [msg, _] = adapter().parse(load("message_video"))
    assert msg.attachments[0].mime == "video/mp4"
    assert msg.attachments[0].media_ref.endswith("/video.mp4")
    [msg, _] = adapter().parse(load("message_sticker"))
    assert msg.attachments[0].is_image and msg.attachments[0].filename == "sticker_40129.png"


def test_contact_location_and_url_become_readable_text():
    [msg, _] = adapter().parse(load("message_contact"))
    assert "Ivan" in msg.text and "+380501234567" in msg.text and not msg.attachments
    [msg, _] = adapter().parse(load("message_location"))
    assert "50.4501" in msg.text and "30.5234" in msg.text
    [msg, _] = adapter().parse(load("message_url"))
    assert msg.text == "https://shop.example/item/7"


def test_unknown_message_type_is_kept_not_dropped():
    payload = load("message")
    payload["message"] = {"type": "rich_media", "rich_media": {}}
    [msg, _] = adapter().parse(payload)
    assert msg.text == "[rich_media]"


def test_subscribe_and_unsubscribe():
    [status] = adapter().parse(load("subscribed"))
    assert isinstance(status, InboundStatus) and status.reachable
    assert (status.sender_id, status.sender_name) == (USER_ID, "Анна Коваль")
    [status] = adapter().parse(load("unsubscribed"))
    assert status.sender_id == USER_ID and not status.reachable
    assert adapter().event_key(load("unsubscribed")) == ("unsubscribed:5741311803571800277", USER_ID)


def test_receipts():
    [r] = adapter().parse(load("delivered"))
    assert isinstance(r, InboundReceipt)
    assert (r.message_external_id, r.status, r.sender_id) == ("5741311803571816115", "delivered", USER_ID)
    [r] = adapter().parse(load("seen"))
    assert r.status == "read"
    [r] = adapter().parse(load("failed"))
    assert r.status == "failed" and "message validation failed" in r.reason
    # The same token can be delivered and seen: the keys differ.
    seen = load("delivered") | {"event": "seen"}
    assert adapter().event_key(load("delivered")) != adapter().event_key(seen)


def test_webhook_check_and_conversation_started_store_nothing():
    assert adapter().event_key(load("webhook")) == (None, None)
    assert adapter().event_key(load("conversation_started")) == (None, None)
    assert adapter().event_key({"event": "client_status", "message_token": 1}) == (None, None)
    assert adapter().parse(load("conversation_started")) == []


def test_signature_is_hmac_of_the_raw_body():
    a = adapter()
    body = raw("message")
    assert a.verify_request({"X-Viber-Content-Signature": sign(body)}, body)
    assert not a.verify_request({"X-Viber-Content-Signature": sign(body, "other-token")}, body)
    assert not a.verify_request({"X-Viber-Content-Signature": sign(body)}, body + b" ")
    # The same JSON serialised differently is different bytes: never re-encode.
    reencoded = json.dumps(json.loads(body)).encode()
    assert not a.verify_request({"X-Viber-Content-Signature": sign(body)}, reencoded)
    assert not a.verify_request({}, body)
    # An unsigned webhook check is answered (and stores nothing); an unsigned message is not.
    assert a.verify_request({}, raw("webhook"))
    assert not a.verify_request({}, json.dumps({"event": "webhook", "message": {}}).encode())
    assert not ViberAdapter({}, {}).verify_request({"X-Viber-Content-Signature": sign(body, "")}, body)


def test_errors_become_readable_reasons():
    err = ViberAdapter._error({"status": 6, "status_message": "notSubscribed"}, "send_message")
    assert err.permanent and err.recipient_unreachable and "unsubscribed" in err.reason
    err = ViberAdapter._error({"status": 5, "status_message": "receiverNotRegistered"})
    assert err.permanent and err.recipient_unreachable and "no longer registered" in err.reason
    err = ViberAdapter._error({"status": 12, "status_message": "Too many requests"})
    assert not err.permanent and err.retry_after > 0
    err = ViberAdapter._error({"status": 2, "status_message": "invalidAuthToken"})
    assert err.permanent and "not valid" in err.reason and not err.recipient_unreachable
    err = ViberAdapter._error({"status": 1}, "set_webhook")  # today's answer: no status_message
    assert err.permanent and "webhook" in err.reason and "None" not in err.reason
    err = ViberAdapter._error({"status": 99, "status_message": "weird"})
    assert err.permanent and "99" in err.reason and "weird" in err.reason
    err = ViberAdapter._http_error(502)
    assert not err.permanent and err.retry_after > 0
    assert ViberAdapter._http_error(404).permanent


def test_token_shape():
    assert ViberAdapter.token_looks_valid(TOKEN)
    assert ViberAdapter.token_looks_valid("445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9")
    for bad in ("", "abc", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", f"Bearer {TOKEN}",
                f'"{TOKEN}"', TOKEN.replace("-", " "), f"https://x.example/{TOKEN}"):
        assert not ViberAdapter.token_looks_valid(bad), bad


def test_check_outbound_gives_readable_reasons(app):
    a = adapter()
    ctx = app.test_request_context("/")  # the composer asks, within a request
    ctx.push()
    assert a.check_outbound("x" * 7000, None) is None
    assert "7000" in a.check_outbound("x" * 7001, None)
    att = OutboundAttachment("setup.exe", "application/pdf", 10, "https://c/f/setup.exe", False)
    assert ".exe" in a.check_outbound("", att)
    att = OutboundAttachment("big.pdf", "application/pdf", 51 * 1024 * 1024, "https://c/f/big.pdf", False)
    assert "50 MB" in a.check_outbound("", att)
    ctx.pop()


class Recorder(ViberAdapter):
    """Records send_message bodies instead of calling Viber."""

    def __init__(self, **settings):
        super().__init__({"bot_name": "A very long shop bot name that Viber cuts", **settings},
                         {"token": TOKEN})
        self.sent = []

    def call(self, endpoint, body=None):
        self.sent.append(body)
        return {"status": 0, "message_token": 1000 + len(self.sent)}


def outbound(text, *attachments):
    return OutboundMessage(message_id=1, chat_id=1, recipient_id=USER_ID, text=text, payload={},
                           attachments=list(attachments))


def test_send_bodies(app):
    a = Recorder()
    assert a.send(outbound("hello")).external_id == "1001"
    [body] = a.sent
    assert body == {"receiver": USER_ID, "sender": {"name": "A very long shop bot name th"},
                    "type": "text", "text": "hello"}
    # A picture takes a short caption; a long one follows as text.
    png = OutboundAttachment("label.png", "image/png", 2000, "https://c/public/files/t/label.png", True)
    a = Recorder()
    a.send(outbound("caption", png))
    assert [(b["type"], b.get("text")) for b in a.sent] == [("picture", "caption")]
    assert a.sent[0]["media"] == "https://c/public/files/t/label.png"
    a = Recorder()
    a.send(outbound("y" * 800, png))
    assert [(b["type"], b.get("text")) for b in a.sent] == [("picture", ""), ("text", "y" * 800)]
    # Files: media, size, file_name; the text after the file.
    pdf = OutboundAttachment("policy.pdf", "application/pdf", 345, "https://c/public/files/t/policy.pdf", False)
    a = Recorder()
    assert a.send(outbound("see this", pdf)).external_id == "1002"
    assert a.sent[0] | {"receiver": None} == {"receiver": None, "sender": a.sent[0]["sender"],
                                              "type": "file", "media": pdf.url, "size": 345,
                                              "file_name": "policy.pdf"}
    assert a.sent[1]["type"] == "text"


def test_send_names_media_the_way_viber_reads_them(app):
    # A picture named without an extension: the link's last segment names the format.
    a = Recorder()
    a.send(outbound("", OutboundAttachment("scan", "image/jpeg", 10, "https://c/public/files/t/scan", True)))
    assert a.sent[0]["type"] == "picture" and a.sent[0]["media"] == "https://c/public/files/t/scan.jpg"
    # WebP is no Viber picture, and neither is an image over 1 MB: they go as files.
    a = Recorder()
    a.send(outbound("", OutboundAttachment("s.webp", "image/webp", 10, "https://c/public/files/t/s.webp", True),
                    OutboundAttachment("big.png", "image/png", 2 * 1024 * 1024, "https://c/public/files/t/big.png", True)))
    assert [b["type"] for b in a.sent] == ["file", "file"]
    # A file without an extension gets one from its type, on the name and on the link.
    a = Recorder()
    a.send(outbound("", OutboundAttachment("contract", "application/pdf", 10, "https://c/public/files/t/contract", False)))
    assert a.sent[0]["file_name"] == "contract.pdf" and a.sent[0]["media"].endswith("/contract.pdf")
    # Refused before calling Viber.
    a = Recorder()
    with pytest.raises(Exception) as exc:
        a.send(outbound("", OutboundAttachment("run.exe", "application/pdf", 10, "https://c/f/run.exe", False)))
    assert exc.value.permanent and ".exe" in exc.value.reason and a.sent == []


# -- through the webhook endpoint (inline jobs) -------------------------------------------

@pytest.fixture
def bot(app, org):
    channel = Channel(kind="viber", name="Viber shop", queue_id=org.support.id,
                      settings={"bot_id": "pa:1", "bot_username": "shop", "bot_name": "Shop"},
                      secrets_encrypted=secrets.encrypt({"token": TOKEN, "webhook_secret": "unused"}))
    db.session.add(channel)
    db.session.commit()
    return channel


def post(app, channel, body: bytes, signature=...):
    headers = {"Content-Type": "application/json"}
    if signature is ...:
        signature = sign(body)
    if signature is not None:
        headers["X-Viber-Content-Signature"] = signature
    return app.test_client().post(f"/webhooks/viber/{channel.public_id}", data=body, headers=headers)


def event_count():
    return db.session.scalar(db.select(db.func.count(InboundEvent.id)))


def test_message_subscribe_and_unsubscribe_through_the_webhook(app, bot):
    assert post(app, bot, raw("message")).status_code == 200
    chat = db.session.scalar(db.select(Chat))
    assert [m.text for m in chat.messages] == ["Привіт"] and chat.contact.name == "Анна Коваль"
    identity = db.session.scalar(db.select(ContactIdentity))
    assert identity.details["avatar_url"].endswith("anna.jpg") and identity.is_reachable
    assert post(app, bot, raw("unsubscribed")).status_code == 200
    db.session.refresh(identity)
    assert identity.is_reachable is False
    assert post(app, bot, raw("subscribed")).status_code == 200
    db.session.refresh(identity)
    assert identity.is_reachable is True


def test_handshake_bad_signature_and_duplicates_store_nothing(app, bot):
    assert post(app, bot, raw("webhook")).status_code == 200
    assert post(app, bot, raw("webhook"), signature=None).status_code == 200
    assert post(app, bot, raw("conversation_started")).status_code == 200
    assert event_count() == 0
    assert post(app, bot, raw("message"), signature=sign(raw("message"), "guess")).status_code == 401
    assert post(app, bot, raw("message"), signature=None).status_code == 401
    assert event_count() == 0
    for _ in range(3):
        assert post(app, bot, raw("message")).status_code == 200
    assert event_count() == 1
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 1


def _our_messages(chat, tokens):
    messages = []
    for i, token in enumerate(tokens):
        m = Message(chat_id=chat.id, direction="out", text=f"reply {i}", status="sent",
                    external_id=str(token))
        db.session.add(m)
        messages.append(m)
    db.session.commit()
    return messages


def receipt(event, token, **extra):
    return json.dumps({"event": event, "timestamp": 1764115216452, "chat_hostname": "SN-CHAT-05_",
                       "message_token": token, "user_id": USER_ID, **extra}).encode()


def test_receipts_move_our_messages_forward_never_back(app, bot):
    post(app, bot, raw("message"))
    chat = db.session.scalar(db.select(Chat))
    first, second, third = _our_messages(chat, [5741311803571816001, 5741311803571816002,
                                                 5741311803571816003])
    # Delivered for the second: the first is delivered too (as delivery.record_receipt does).
    assert post(app, bot, receipt("delivered", 5741311803571816002)).status_code == 200
    for m in (first, second, third):
        db.session.refresh(m)
    assert [m.status for m in (first, second, third)] == ["delivered", "delivered", "sent"]
    post(app, bot, receipt("seen", 5741311803571816002))
    for m in (first, second):
        db.session.refresh(m)
    assert (first.status, second.status) == ("read", "read")
    # A late "delivered" from another device never moves a read message back.
    post(app, bot, receipt("delivered", 5741311803571816002, chat_hostname="SN-CHAT-09_"))
    db.session.refresh(second)
    assert second.status == "read"
    # failed: the device refused the third; the operator sees why.
    post(app, bot, receipt("failed", 5741311803571816003, desc="message validation failed"))
    db.session.refresh(third)
    assert third.status == "failed" and "message validation failed" in third.error
    post(app, bot, receipt("seen", 5741311803571816003))
    db.session.refresh(third)
    assert third.status == "failed"
    # A receipt for a message that is not ours, or from another user, changes nothing.
    [fourth] = _our_messages(chat, [5741311803571816004])
    post(app, bot, receipt("seen", 1234))
    other = json.loads(receipt("seen", 5741311803571816004))
    other["user_id"] = "someone-else=="
    post(app, bot, json.dumps(other).encode())
    db.session.refresh(fourth)
    assert fourth.status == "sent"
    assert db.session.scalar(db.select(db.func.count(InboundEvent.id)).where(
        InboundEvent.processed_at.is_(None))) == 0
