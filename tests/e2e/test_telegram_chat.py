"""A Telegram chat from end to end, in real Chromium, against the fake Bot API server.

The admin connects a bot with the console's form and checks its health; an Active operator
sees a Telegram user's message arrive live, with the user's profile photo as the contact's
avatar; the operator accepts, replies with text, an image and a PDF (which reach the Bot API
as sendMessage, sendPhoto and sendDocument), and closes the chat.
"""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from fakes.telegram import FakeTelegram
from helpers import pdf_bytes
from stack import running_stack, wait_for

from .conftest import TIMEOUT_MS
from .test_website_chat import go_active, log_in

pytestmark = pytest.mark.e2e

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_USERNAME = "acme_help_bot"
CHANNEL_NAME = "Acme on Telegram"
PDF = pdf_bytes()


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def telegram():
    fake = FakeTelegram()
    fake.add_bot(TOKEN, username=BOT_USERNAME, first_name="Acme Help")
    yield fake
    fake.stop()


@pytest.fixture
def stack(tmp_path, telegram):
    """The e2e conftest's stack takes no extra environment: this one points the
    Telegram adapter at the fake (no customer site is needed here)."""
    with running_stack(tmp_path / "stack",
                       extra_env={"TELEGRAM_API_URL": telegram.base_url}) as s:
        yield s


# ---------------------------------------------------------------- helpers
def picture(text: str, top: tuple[int, int, int], bottom: tuple[int, int, int],
            size=(320, 200), fmt="PNG", frame=True, text_scale=1 / 6) -> bytes:
    """A recognisable picture: a vertical gradient with a label in the middle."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(1, h - 1)
        draw.line([(0, y), (w, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    if frame:
        draw.rectangle((w // 10, h // 10, w - w // 10, h - h // 10), outline=(255, 255, 255),
                       width=max(2, w // 80))
    draw.text((w // 2, h // 2), text, fill=(255, 255, 255), anchor="mm",
              font_size=max(10, round(h * text_scale)))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def image_loaded(page: Page, img) -> None:
    """The <img> really decoded (not a broken image icon)."""
    expect(img).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=img.element_handle(), timeout=TIMEOUT_MS)


def _avatar_key(stack, chat_id: int) -> str | None:
    import sqlalchemy as sa
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT contacts.avatar_key FROM chats JOIN contacts "
                "ON contacts.id = chats.contact_id WHERE chats.id = :id"), {"id": chat_id}).scalar()
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the test
def test_telegram_chat_connect_avatar_reply_with_files_and_close(stack, telegram, people,
                                                                 artifacts, tmp_path):
    base = stack.base_url
    files = tmp_path / "files"
    files.mkdir()
    label_png = picture("RETURN LABEL", (20, 110, 80), (10, 60, 40))
    (files / "return-label.png").write_bytes(label_png)
    (files / "return-policy.pdf").write_bytes(PDF)

    # -- the admin connects the bot with the console's form --------------------------------
    admin = people("admin")
    ap = admin.page
    log_in(ap, base, "ada@example.com")
    ap.goto(f"{base}/settings/channels")
    ap.get_by_text("+ Add channel").click()
    ap.get_by_role("menuitem", name=re.compile(r"^Telegram")).click()
    ap.wait_for_url(re.compile(r"/settings/channels/new/telegram$"))
    expect(ap.get_by_role("heading", level=1)).to_have_text("Connect a Telegram bot")
    ap.get_by_label("Channel name").fill(CHANNEL_NAME)
    ap.get_by_label("Queue").select_option(label="Support")
    ap.get_by_label("Bot token").fill(TOKEN)
    ap.get_by_role("button", name="Connect").click()
    ap.wait_for_url(re.compile(r"/settings/channels/\d+$"))
    expect(ap.get_by_text(f"The bot @{BOT_USERNAME} is connected.")).to_be_visible()
    bot_link = ap.get_by_role("link", name=f"@{BOT_USERNAME}")
    expect(bot_link).to_have_attribute("href", f"https://t.me/{BOT_USERNAME}")
    assert TOKEN not in ap.content()
    hook = telegram.webhook(TOKEN)
    assert hook is not None and hook["url"].startswith(f"{base}/webhooks/telegram/"), hook
    expect(ap.locator("#webhook-status")).to_contain_text("Registered")
    expect(ap.locator("#webhook-status")).to_contain_text(hook["url"])
    health = ap.locator("#channel-health")
    expect(health).to_contain_text("Not checked yet")
    health.get_by_role("button", name="Check now").click()
    expect(ap.locator("#channel-health li.ok")).to_have_text(
        ["Token valid", "Webhook registered here"])
    expect(ap.locator("#channel-health li.bad")).to_have_count(0)
    artifacts.shot(ap, "admin-telegram-channel-healthy", full_page=True)
    # The channel list shows the bot and a healthy status.
    ap.goto(f"{base}/settings/channels")
    row = ap.locator("tr", has_text=CHANNEL_NAME)
    expect(row).to_contain_text(f"@{BOT_USERNAME}")
    expect(row.locator(".tag")).to_have_text("Enabled")
    admin.close()

    # -- the operator logs in and goes Active --------------------------------------------------
    olga = people("olga")
    op = olga.page
    log_in(op, base, "olga@example.com")
    go_active(op)
    op.evaluate("window.__e2eNoReload = 'still here'")  # a reload would wipe it

    # -- a Telegram user with a profile photo writes to the bot ---------------------------------
    user = telegram.default_user  # Ann Lee
    telegram.set_profile_photo(user["id"], picture("AL", (236, 120, 60), (190, 40, 90),
                                                   size=(800, 800), fmt="JPEG", frame=False,
                                                   text_scale=0.45))
    first = "Hi! My parcel 1042 has not arrived yet."
    update = telegram.text_update(TOKEN, first)
    chat_user = update["message"]["chat"]["id"]
    assert telegram.deliver(TOKEN, update) == 200

    item = op.locator("#waiting-list > li.chat-item.waiting")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Ann Lee")
    expect(item).to_contain_text(first)
    expect(item.locator(".chat-item-sub")).to_have_text(f"{CHANNEL_NAME} · Support")
    expect(op.locator('[data-count-of="waiting-list"]')).to_have_text("1")
    assert op.evaluate("window.__e2eNoReload") == "still here"
    chat_id = int(item.get_attribute("data-chat-id"))
    artifacts.shot(op, "olga-sees-telegram-chat-waiting")

    # -- accept ----------------------------------------------------------------------------------
    item.locator(".accept-btn").click()
    controls = op.locator(f"#chat-controls-{chat_id}")
    expect(controls.locator("form[data-composer]")).to_be_visible()
    header = op.locator(f"#chat-header-{chat_id}")
    expect(header.locator(".status-pill")).to_have_text("In progress")
    expect(header.locator("h1")).to_have_text("Ann Lee")
    expect(header).to_contain_text(f"{CHANNEL_NAME} · Support")
    expect(op.locator(f"#waiting-chat-{chat_id}")).to_have_count(0)
    mine = op.locator(f"#my-chats #my-chat-{chat_id}")
    expect(mine).to_be_visible()
    msgs = op.locator(f"#messages-{chat_id}")
    expect(msgs.locator(".msg-in .msg-text")).to_have_text([first])

    # -- the avatar: fetched by the worker after the first message; it shows in the header
    # the next time the chat is rendered (reopening it from "My chats", no page reload).
    wait_for(lambda: _avatar_key(stack, chat_id), timeout=30, message="the contact's avatar")
    mine.locator("a.chat-item-main").click()
    avatar = header.locator("img.avatar")
    image_loaded(op, avatar)
    assert re.search(r"/contacts/\d+/avatar\?v=", avatar.get_attribute("src"))
    [asked] = telegram.calls_to("getUserProfilePhotos", TOKEN)
    assert str(asked.params["user_id"]) == str(user["id"])

    # -- the operator replies: text (Enter sends) --------------------------------------------------
    reply_box = op.locator(f"#reply-{chat_id}")
    reply = "Hi Ann, sorry about that! Let me check the parcel for you."
    reply_box.fill(reply)
    reply_box.press("Enter")
    expect(reply_box).to_have_value("")
    out = msgs.locator(".msg-out", has_text=reply)
    expect(out).to_have_count(1)
    expect(out.locator(".msg-status")).to_have_text("Sent")
    wait_for(lambda: telegram.calls_to("sendMessage", TOKEN), message="sendMessage")
    [sent] = telegram.calls_to("sendMessage", TOKEN)
    assert sent.ok, sent.response
    assert str(sent.params["chat_id"]) == str(chat_user) and sent.params["text"] == reply
    artifacts.shot(op, "olga-telegram-chat-open-with-avatar")

    # -- an image with a caption (Enter sends it too), then a PDF with the Send button ----------
    attach = controls.locator("input[data-attach]")
    attach_label = controls.locator(".attach-label")
    caption = "Here is your return label."
    attach.set_input_files(str(files / "return-label.png"))
    expect(attach_label).to_have_text("return-label.png")
    reply_box.fill(caption)
    reply_box.press("Enter")
    expect(attach_label).to_have_text("Attach")
    expect(reply_box).to_have_value("")
    attach.set_input_files(str(files / "return-policy.pdf"))
    expect(attach_label).to_have_text("return-policy.pdf")
    controls.get_by_role("button", name="Send").click()
    expect(attach_label).to_have_text("Attach")

    photo_msg = msgs.locator(".msg-out", has=op.locator('img[alt="return-label.png"]'))
    expect(photo_msg.locator(".msg-text")).to_have_text(caption)
    image_loaded(op, photo_msg.locator("img"))
    expect(msgs.locator(".msg-out a.msg-file", has_text="return-policy.pdf")).to_be_visible()
    statuses = msgs.locator(".msg-out .msg-status")
    expect(statuses).to_have_text(["Sent", "Sent", "Sent"])

    [photo] = telegram.calls_to("sendPhoto", TOKEN)
    assert photo.ok, photo.response
    assert str(photo.params["chat_id"]) == str(chat_user)
    assert photo.params.get("caption") == caption
    name, data, _mime = photo.files["photo"]
    assert name == "return-label.png"
    assert Image.open(io.BytesIO(data)).size == Image.open(io.BytesIO(label_png)).size
    [doc] = telegram.calls_to("sendDocument", TOKEN)
    assert doc.ok, doc.response
    assert str(doc.params["chat_id"]) == str(chat_user)
    assert "caption" not in doc.params
    assert doc.files["document"][:2] == ("return-policy.pdf", PDF)
    assert len(telegram.calls_to("sendMessage", TOKEN)) == 1  # no extra text message

    # -- the customer answers with a photo: it arrives live in the open chat ---------------------
    parcel = picture("PARCEL", (60, 90, 200), (20, 30, 90), size=(640, 480), fmt="JPEG")
    assert telegram.deliver(TOKEN, telegram.photo_update(TOKEN, parcel,
                                                         caption="Thanks! This is the box.")) == 200
    theirs = msgs.locator(".msg-in", has_text="Thanks! This is the box.")
    expect(theirs).to_have_count(1)
    image_loaded(op, theirs.locator("img"))
    # The chat is open in front of the operator: the new message is marked read at once.
    expect(mine.locator(".badge")).to_have_count(0)
    expect(mine).not_to_have_class(re.compile(r"\bhas-unread\b"))
    assert op.evaluate("window.__e2eNoReload") == "still here"
    expect(op.locator("#ws-state")).to_have_attribute("data-state", "live")
    artifacts.shot(op, "olga-telegram-conversation")

    # -- the operator closes the chat -----------------------------------------------------------
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    op.on("dialog", on_dialog)
    controls.get_by_role("button", name="Close chat").click()
    expect(controls.locator(".closed-note")).to_be_visible()
    assert dialogs == ["Close this chat?"], dialogs
    expect(header.locator(".status-pill")).to_have_text("Closed")
    expect(op.locator(f"#my-chat-{chat_id}")).to_have_count(0)
    expect(controls.locator("form[data-composer]")).to_have_count(0)
    assert op.evaluate("window.__e2eNoReload") == "still here"
    artifacts.shot(op, "olga-telegram-chat-closed")

    # -- the contact card shows the Telegram identity and the avatar ---------------------------
    header.locator("h1 a").click()
    op.wait_for_url(re.compile(r"/contacts/\d+$"))
    expect(op.locator(".page-head h1")).to_have_text("Ann Lee")
    image_loaded(op, op.locator(".page-head h1 img.avatar"))
    identity = op.locator("ul.identities > li")
    expect(identity).to_have_count(1)
    expect(identity.locator(".tag")).to_have_text("Telegram")
    expect(identity).to_contain_text(CHANNEL_NAME)
    artifacts.shot(op, "contact-card-with-avatar", full_page=True)

    assert not olga.page_errors, olga.page_errors
    assert not admin.page_errors, admin.page_errors
