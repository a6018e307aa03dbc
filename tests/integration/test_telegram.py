"""Telegram end to end: the console against a fake Bot API server (tests/fakes/telegram.py)
that validates what we send and delivers webhooks the way Telegram does."""
import io
import re

import pytest
from PIL import Image

from fakes.telegram import FakeTelegram
from helpers import contact_avatar, jpeg_bytes, png_bytes
from stack import receive_until, running_stack, wait_for

pytestmark = pytest.mark.integration
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
PNG = png_bytes(size=(40, 30))
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def telegram():
    fake = FakeTelegram()
    fake.add_bot(TOKEN, username="shop_bot", first_name="Shop Bot")
    yield fake
    fake.stop()


@pytest.fixture
def stack(tmp_path, telegram):
    with running_stack(tmp_path, extra_env={"TELEGRAM_API_URL": telegram.base_url}) as s:
        yield s


def connect(admin, stack, token=TOKEN, name="Shop bot"):
    return admin.http.post(stack.base_url + "/settings/channels/new/telegram",
                           data={"name": name, "queue": stack.data["support_id"], "token": token,
                                 "csrf_token": admin.token}, allow_redirects=False)


def test_connect_check_token_and_register_webhook(stack, telegram, operator):
    admin = operator("ada@example.com")
    resp = connect(admin, stack)
    assert resp.status_code == 302, resp.text[:500]
    page = admin.get(resp.headers["Location"]).text
    assert "@shop_bot" in page and TOKEN not in page
    hook = telegram.webhook(TOKEN)
    public_id = re.search(r"/webhooks/telegram/([\w-]+)", hook["url"]).group(1)
    assert hook["url"] == f"{stack.base_url}/webhooks/telegram/{public_id}"
    assert len(hook["secret_token"]) >= 32
    assert "my_chat_member" in hook["allowed_updates"]
    # The same bot twice: a clear refusal, nothing created.
    again = connect(admin, stack, name="Copy")
    assert again.status_code == 400 and "already connected" in again.text
    # A token Telegram does not know.
    bad = connect(admin, stack, token="987654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert bad.status_code == 400 and "Telegram refused the token" in bad.text
    # Re-register ("actualize") shows the provider's answer.
    channel_page = resp.headers["Location"]
    channel_id = channel_page.rstrip("/").rsplit("/", 1)[1]
    answer = admin.post(f"/settings/channels/{channel_id}/webhook", {"csrf_token": admin.token})
    assert answer.status_code == 200 and "Registered" in answer.text
    assert len(telegram.calls_to("setWebhook", TOKEN)) == 2


def test_conversation_both_ways(stack, telegram, operator):
    admin = operator("ada@example.com")
    assert connect(admin, stack).status_code == 302
    olga = operator("olga@example.com")
    olga.post("/workspace/presence", {"presence": "active"})
    ws = olga.websocket()
    try:
        receive_until(ws, lambda f: 'id="ws-state"' in f)
        telegram.set_profile_photo(telegram.default_user["id"], jpeg_bytes(size=(800, 800)))
        update = telegram.text_update(TOKEN, "Hi from Telegram")
        assert telegram.deliver(TOKEN, update) == 200
        frame = receive_until(ws, lambda f: "Hi from Telegram" in f and "waiting-list" in f)
        chat_id = re.search(r'waiting-chat-(\d+)', frame).group(1)
        # The sender's name and profile photo fill the new contact (a 128 px copy of
        # the 640 px size, the largest the card needs).
        assert "Ann Lee" in frame
        _contact_id, avatar = wait_for(lambda: contact_avatar(olga, chat_id), message="avatar")
        assert Image.open(io.BytesIO(avatar)).size == (128, 128)
        # The waiting list shows it live, without a reload.
        frame = receive_until(ws, lambda f: "/avatar?v=" in f and f"waiting-chat-{chat_id}" in f)
        assert '<img class="avatar small"' in frame
        [asked] = telegram.calls_to("getUserProfilePhotos", TOKEN)
        assert str(asked.params["user_id"]) == str(telegram.default_user["id"])
        assert str(asked.params["limit"]) == "1"
        # A provider retry of the same update creates nothing new.
        assert telegram.deliver(TOKEN, update) == 200
        # A forged delivery is refused.
        assert telegram.deliver(TOKEN, telegram.text_update(TOKEN, "forged"),
                                secret_token="not-the-secret") == 401
        # A photo is downloaded into our storage when it arrives.
        assert telegram.deliver(TOKEN, telegram.photo_update(TOKEN, PNG, caption="my parcel")) == 200
        receive_until(ws, lambda f: "my parcel" in f and "<img" in f)
        assert olga.post(f"/workspace/chats/{chat_id}/accept").status_code == 200
        chat_user = update["message"]["chat"]["id"]
        assert olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "Hello from the team"}).status_code == 204
        wait_for(lambda: telegram.calls_to("sendMessage", TOKEN), message="sendMessage")
        sent = telegram.calls_to("sendMessage", TOKEN)[-1]
        assert str(sent.params["chat_id"]) == str(chat_user) and sent.params["text"] == "Hello from the team"
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "label"},
                  files={"file": ("label.png", PNG, "image/png")})
        wait_for(lambda: telegram.calls_to("sendPhoto", TOKEN), message="sendPhoto")
        photo = telegram.calls_to("sendPhoto", TOKEN)[-1]
        assert "photo" in photo.files and photo.params.get("caption") == "label"
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": ""},
                  files={"file": ("policy.pdf", PDF, "application/pdf")})
        wait_for(lambda: telegram.calls_to("sendDocument", TOKEN), message="sendDocument")
        doc = telegram.calls_to("sendDocument", TOKEN)[-1]
        assert doc.files["document"][0] == "policy.pdf" and doc.files["document"][1] == PDF
        # Flood control: retried after retry_after, then sent.
        telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        before = len(telegram.calls_to("sendMessage", TOKEN))
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "after the flood"})
        wait_for(lambda: len(telegram.calls_to("sendMessage", TOKEN)) >= before + 2, timeout=30,
                 message="the retry after retry_after")
        assert telegram.calls_to("sendMessage", TOKEN)[-1].params["text"] == "after the flood"
        # The customer blocks the bot: the reply fails with a readable reason.
        telegram.block_user(TOKEN, chat_user)
        olga.post(f"/workspace/chats/{chat_id}/messages", {"text": "are you there?"})
        frame = receive_until(ws, lambda f: "status-failed" in f, timeout=20)
        assert "blocked" in frame
        # The operator closes the chat; its statistics are computed.
        assert olga.post(f"/workspace/chats/{chat_id}/close").status_code == 200
        wait_for(lambda: 'data-stat="messages_in">2<' in olga.get(f"/chats/{chat_id}").text,
                 message="statistics of the Telegram chat")
    finally:
        ws.close()


def test_health_sees_a_takeover_and_takes_the_webhook_back(stack, telegram, operator):
    import requests
    admin = operator("ada@example.com")
    resp = connect(admin, stack)
    channel_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    check = admin.post(f"/settings/channels/{channel_id}/health", {"csrf_token": admin.token})
    assert check.status_code == 200
    assert "Token valid" in check.text and "Webhook registered here" in check.text
    # Another installation registers its own webhook for the same bot.
    requests.post(f"{telegram.base_url}/bot{TOKEN}/setWebhook",
                  json={"url": "https://elsewhere.example/hook"}, timeout=5)
    check = admin.post(f"/settings/channels/{channel_id}/health", {"csrf_token": admin.token})
    assert "points elsewhere" in check.text and "https://elsewhere.example/hook" in check.text
    assert "Take the webhook back" in check.text
    assert "Needs attention" in admin.get("/settings/channels").text
    back = admin.post(f"/settings/channels/{channel_id}/webhook",
                      {"csrf_token": admin.token, "then": "health"})
    assert "Webhook registered here" in back.text
    assert telegram.webhook(TOKEN)["url"].startswith(stack.base_url)
    # The provider refuses a re-registration: its reason, in a modal.
    telegram.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    refused = admin.post(f"/settings/channels/{channel_id}/webhook", {"csrf_token": admin.token})
    assert refused.headers.get("HX-Retarget") == "#modal"
    assert "Failed to resolve host" in refused.text and "<dialog" in refused.text
    # A revoked token shows as such.
    telegram.fail_next("getMe", 401, "Unauthorized")
    check = admin.post(f"/settings/channels/{channel_id}/health", {"csrf_token": admin.token})
    assert "no longer valid" in check.text
