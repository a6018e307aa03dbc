"""The Telegram adapter's pure parts: parsing updates, verifying webhooks, reading errors.
(End to end against a fake Bot API server: tests/integration/test_telegram.py.)"""
from app.channels import InboundMessage, InboundStatus
from app.channels.telegram import TelegramAdapter

USER = {"id": 42, "is_bot": False, "first_name": "Ann", "last_name": "Lee", "username": "ann",
        "language_code": "uk"}
CHAT = {"id": 42, "type": "private", "first_name": "Ann", "username": "ann"}


def adapter():
    return TelegramAdapter({"channel_id": 1}, {"token": "1:x", "webhook_secret": "s3cret"})


def update(**message):
    return {"update_id": 1001, "message": {"message_id": 5, "date": 1700000000, "chat": CHAT,
                                           "from": USER, **message}}


def test_text_message():
    [msg] = adapter().parse(update(text="hi"))
    assert isinstance(msg, InboundMessage)
    assert (msg.sender_id, msg.external_id, msg.text, msg.sender_name) == ("42", "5", "hi", "Ann Lee")
    assert msg.sent_at.year == 2023
    assert adapter().event_key(update(text="hi")) == ("1001", "42")


def test_photo_takes_the_largest_size_and_the_caption():
    sizes = [{"file_id": f"p{i}", "file_unique_id": f"u{i}", "width": w, "height": w, "file_size": w * 10}
             for i, w in enumerate((90, 320, 1280))]
    [msg] = adapter().parse(update(photo=sizes, caption="my order"))
    [att] = msg.attachments
    assert (att.media_ref, att.is_image, att.width) == ("p2", True, 1280)
    assert msg.text == "my order"


def test_document_sticker_voice_location_contact():
    doc = {"file_id": "d1", "file_unique_id": "ud", "file_name": "invoice.pdf",
           "mime_type": "application/pdf", "file_size": 1234}
    [msg] = adapter().parse(update(document=doc))
    assert (msg.attachments[0].filename, msg.attachments[0].mime) == ("invoice.pdf", "application/pdf")
    sticker = {"file_id": "s1", "file_unique_id": "us", "type": "regular", "width": 512,
               "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}
    [msg] = adapter().parse(update(sticker=sticker))
    assert msg.text == "👍" and msg.attachments[0].is_image
    [msg] = adapter().parse(update(voice={"file_id": "v1", "file_unique_id": "uv", "duration": 3,
                                          "mime_type": "audio/ogg", "file_size": 900}))
    assert msg.attachments[0].mime == "audio/ogg" and not msg.attachments[0].is_image
    [msg] = adapter().parse(update(location={"latitude": 50.45, "longitude": 30.52}))
    assert "50.45" in msg.text and "30.52" in msg.text
    [msg] = adapter().parse(update(contact={"phone_number": "+380501234567", "first_name": "Bo"}))
    assert "+380501234567" in msg.text and "Bo" in msg.text


def test_block_and_unblock():
    def member(status):
        return {"update_id": 1007, "my_chat_member": {
            "chat": CHAT, "from": USER, "date": 1700000000,
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "Bot"}},
            "new_chat_member": {"status": status, "user": {"id": 1, "is_bot": True, "first_name": "Bot"}}}}
    [status] = adapter().parse(member("kicked"))
    assert isinstance(status, InboundStatus) and status.sender_id == "42" and not status.reachable
    [status] = adapter().parse(member("member"))
    assert status.reachable


def test_group_messages_are_ignored():
    payload = update(text="hello group")
    payload["message"]["chat"] = {"id": -100, "type": "supergroup", "title": "G"}
    assert adapter().parse(payload) == []


def test_webhook_secret_is_checked():
    a = adapter()
    assert a.verify_request({"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, b"{}")
    assert not a.verify_request({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, b"{}")
    assert not a.verify_request({}, b"{}")


def test_errors_become_readable_reasons():
    err = TelegramAdapter._error({"ok": False, "error_code": 429, "description":
                                  "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}, 429)
    assert err.retry_after == 7 and not err.permanent
    err = TelegramAdapter._error({"ok": False, "error_code": 403,
                                  "description": "Forbidden: bot was blocked by the user"}, 403)
    assert err.permanent and err.recipient_unreachable and "blocked" in err.reason
    err = TelegramAdapter._error({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
    assert err.permanent and "not valid" in err.reason
    err = TelegramAdapter._error({"ok": False, "error_code": 502, "description": "Bad Gateway"}, 502)
    assert not err.permanent and err.retry_after > 0
