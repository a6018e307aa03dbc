import json

import pytest

from app.extensions import db
from app.models import Channel, Chat, ContactIdentity, InboundEvent, Message
from app.services import secrets

SECRET = "per-channel-secret"


@pytest.fixture
def bot(app, org):
    channel = Channel(kind="telegram", name="Shop bot", queue_id=org.support.id,
                      settings={"bot_id": "999", "bot_username": "shop_bot"},
                      secrets_encrypted=secrets.encrypt({"token": "999:" + "a" * 35,
                                                         "webhook_secret": SECRET}))
    db.session.add(channel)
    db.session.commit()
    return channel


def text_update(update_id, text, chat_id=42):
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1700000000, "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"}}}


def post(app, channel, payload, secret=SECRET, raw=None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return app.test_client().post(f"/webhooks/telegram/{channel.public_id}",
                                  data=raw if raw is not None else json.dumps(payload),
                                  headers=headers)


def test_update_becomes_contact_chat_and_message(app, bot):
    assert post(app, bot, text_update(1, "Hello bot")).status_code == 200
    chat = db.session.scalar(db.select(Chat))
    assert chat.channel_id == bot.id and [m.text for m in chat.messages] == ["Hello bot"]
    assert chat.contact.name == "Ann"


def test_wrong_or_missing_secret_is_401_and_stores_nothing(app, bot):
    assert post(app, bot, text_update(1, "x"), secret="guess").status_code == 401
    assert post(app, bot, text_update(1, "x"), secret=None).status_code == 401
    assert db.session.scalar(db.select(db.func.count(InboundEvent.id))) == 0


def test_retried_update_creates_nothing_new(app, bot):
    for _ in range(3):
        assert post(app, bot, text_update(7, "once")).status_code == 200
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 1


def test_malformed_and_unknown(app, bot):
    assert post(app, bot, None, raw="{not json").status_code == 400
    assert post(app, bot, {"no_update_id": True}).status_code == 400
    resp = app.test_client().post("/webhooks/telegram/nope", json=text_update(1, "x"))
    assert resp.status_code == 404
    assert db.session.scalar(db.select(db.func.count(InboundEvent.id))) == 0


def test_block_marks_the_contact_unreachable_and_back(app, bot):
    post(app, bot, text_update(1, "hi"))

    def member(update_id, status):
        return {"update_id": update_id, "my_chat_member": {
            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
            "date": 1700000000, "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "B"}},
            "new_chat_member": {"status": status, "user": {"id": 1, "is_bot": True, "first_name": "B"}}}}
    post(app, bot, member(2, "kicked"))
    identity = db.session.scalar(db.select(ContactIdentity))
    assert identity.is_reachable is False
    post(app, bot, member(3, "member"))
    db.session.refresh(identity)
    assert identity.is_reachable is True


def test_token_is_encrypted_at_rest(app, bot):
    assert "999:" not in bot.secrets_encrypted and SECRET not in bot.secrets_encrypted
    assert secrets.decrypt(bot.secrets_encrypted)["webhook_secret"] == SECRET
