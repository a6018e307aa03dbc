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


def test_operator_starts_a_chat_from_the_contact_card(app, org, bot, login):
    from app.services import users
    post(app, bot, text_update(1, "hello"))
    first = db.session.scalar(db.select(Chat))
    olga = login(org.olga)
    users.set_presence(org.olga, "active")
    olga.post(f"/workspace/chats/{first.id}/accept", htmx=True)
    olga.post(f"/workspace/chats/{first.id}/close", htmx=True)
    card = olga.get(f"/contacts/{first.contact_id}").get_data(as_text=True)
    assert "Start a chat" in card
    identity = db.session.scalar(db.select(ContactIdentity))
    resp = olga.post(f"/contacts/{first.contact_id}/identities/{identity.id}/chat")
    assert resp.status_code == 302
    chat = db.session.scalar(db.select(Chat).order_by(Chat.id.desc()))
    assert resp.location.endswith(f"/workspace/chats/{chat.id}")
    assert chat.id != first.id and chat.status == "active" and chat.assignee_id == org.olga.id
    assert "Open the current chat" in olga.get(f"/contacts/{first.contact_id}").get_data(as_text=True)
    # Starting again leads to the same open chat, not a second one.
    olga.post(f"/contacts/{first.contact_id}/identities/{identity.id}/chat")
    assert db.session.scalar(db.select(db.func.count(Chat.id))) == 2


def test_start_chat_refused_with_reasons(app, org, bot, login):
    from helpers import visitor_id, widget_post
    post(app, bot, text_update(1, "hello"))
    tg = db.session.scalar(db.select(ContactIdentity).where(ContactIdentity.channel_id == bot.id))
    tg.is_reachable = False
    db.session.commit()
    widget_post(app.test_client(), org.channel, visitor_id(), text="from the site")
    web = db.session.scalar(db.select(ContactIdentity).where(ContactIdentity.channel_id == org.channel.id))
    olga = login(org.olga)
    for identity, reason in ((tg, "blocked the bot"), (web, "Website visitors")):
        for chat in db.session.scalars(db.select(Chat).where(Chat.identity_id == identity.id)):
            chat.status, chat.open_identity_id = "closed", None
        db.session.commit()
        assert reason in olga.get(f"/contacts/{identity.contact_id}").get_data(as_text=True)
        resp = olga.post(f"/contacts/{identity.contact_id}/identities/{identity.id}/chat")
        assert resp.status_code == 403 and reason in resp.get_data(as_text=True)
    sam = login(org.sam)  # another queue: the contact is not his to see
    assert sam.post(f"/contacts/{tg.contact_id}/identities/{tg.id}/chat").status_code == 404


def test_reply_over_telegram_limits_is_refused_before_sending(app, org, bot, login):
    from app.services import users
    post(app, bot, text_update(1, "hello"))
    chat = db.session.scalar(db.select(Chat))
    users.set_presence(org.olga, "active")
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    resp = olga.post(f"/workspace/chats/{chat.id}/messages", {"text": "x" * 4097}, htmx=True)
    assert resp.status_code == 400
    assert "at most 4096 characters" in resp.get_data(as_text=True)
    assert chat.messages.filter_by(direction="out").count() == 0


def test_avatar_is_best_effort(app, bot):
    """A profile photo fills the new contact; no photo, or Telegram failing, changes
    nothing about the message (it is stored either way) and the card keeps the initial."""
    from fakes.telegram import FakeTelegram
    from helpers import jpeg_bytes
    from app.models import Contact
    token = secrets.decrypt(bot.secrets_encrypted)["token"]
    with FakeTelegram() as fake:
        fake.add_bot(token)
        app.config["TELEGRAM_API_URL"] = fake.base_url
        for chat_id in (42, 43, 44):
            fake.add_chat(token, fake.user(user_id=chat_id))
        fake.set_profile_photo(42, jpeg_bytes(size=(300, 200)))
        fake.fail_next("getUserProfilePhotos", 500, "Internal Server Error")
        assert post(app, bot, text_update(1, "broken telegram", chat_id=44)).status_code == 200
        assert post(app, bot, text_update(2, "with photo", chat_id=42)).status_code == 200
        assert post(app, bot, text_update(3, "no photo", chat_id=43)).status_code == 200
    by_text = {m.text: m.chat.contact for m in db.session.scalars(db.select(Message))}
    assert set(by_text) == {"broken telegram", "with photo", "no photo"}
    assert by_text["with photo"].avatar_key and not by_text["no photo"].avatar_key
    assert not by_text["broken telegram"].avatar_key
    assert db.session.scalar(db.select(db.func.count(Contact.id))) == 3
