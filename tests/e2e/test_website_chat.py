"""A website chat from end to end, in real Chromium.

A customer's page on another site embeds the snippet the console generates; a visitor
writes; two Active operators see the chat arrive live, both press Accept together and
exactly one gets it; text, images and files go both ways; the operator closes the chat;
the worker computes the chat's statistics.
"""
from __future__ import annotations

import io
import re
import secrets
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from stack import Operator, wait_for

from .conftest import PASSWORD, TIMEOUT_MS

pytestmark = pytest.mark.e2e

STATS_TIMEOUT_S = 45
ACCEPT_RE = re.compile(r"/workspace/chats/\d+/accept$")


# ---------------------------------------------------------------- helpers
def png(text: str, color: tuple[int, int, int]) -> bytes:
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (320, 200), color)
    draw = ImageDraw.Draw(img)
    draw.rectangle((16, 16, 304, 184), outline=(255, 255, 255), width=4)
    draw.text((32, 90), text, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <link rel="icon" href="data:,">
  <title>Acme Shop: where is my order?</title>
  <style>
    body {{ margin: 0; font: 16px/1.5 Georgia, serif; background: #fbfaf7; color: #222; }}
    header {{ background: #14213d; color: #fff; padding: 14px 40px; font-size: 20px; }}
    main {{ max-width: 620px; padding: 24px 40px; }}
  </style>
</head>
<body>
  <header>Acme Shop</header>
  <main>
    <h1>Where is my order?</h1>
    <p>Most parcels arrive within three working days. If yours has not, our team is
       happy to help: use the chat button in the corner.</p>
  </main>
  {snippet}
</body>
</html>
"""


def log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/workspace$"))


def go_active(page: Page) -> None:
    """Switch to Active with the presence buttons; wait until the workspace is live."""
    expect(page.locator("#ws-state")).to_have_attribute("data-state", "live")
    expect(page.locator("#ws-state")).to_have_text("Live")
    page.locator("#presence").get_by_role("radio", name="Active").click()
    expect(page.locator("#presence").get_by_role("radio", name="Active")).to_have_attribute(
        "aria-checked", "true")
    expect(page.locator("#waiting-list")).to_be_attached()


def image_loaded(page: Page, img) -> None:
    """The <img> really decoded (not a broken image icon)."""
    expect(img).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                           timeout=TIMEOUT_MS)


def stats_on_card(page: Page, url: str) -> None:
    """The statistics are computed by the worker after the close: the card polls for them
    itself; reload too, in case the page was rendered before the close was processed."""
    deadline = time.monotonic() + STATS_TIMEOUT_S
    page.goto(url)
    while True:
        try:
            page.locator('#chat-stats [data-stat="messages_in"]').wait_for(timeout=5000)
            return
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no statistics on {url} after {STATS_TIMEOUT_S} s")
            page.reload()


# ---------------------------------------------------------------- the test
def test_website_chat_two_operators_race_files_and_close(stack, host_site, people, artifacts,
                                                         tmp_path):
    base = stack.base_url

    files = tmp_path / "files"
    files.mkdir()
    (files / "damaged-box.png").write_bytes(png("visitor: damaged box", (180, 60, 50)))
    (files / "order-1042.txt").write_text("Order 1042\nOne blue teapot\n", encoding="utf-8")
    (files / "return-label.png").write_bytes(png("operator: return label", (30, 110, 80)))
    (files / "return-policy.pdf").write_bytes(PDF)

    # -- the admin copies the generated snippet onto the customer's site ----------
    admin = people("admin")
    log_in(admin.page, base, "ada@example.com")
    admin.page.goto(f"{base}/settings/channels/{stack.data['channel_id']}")
    snippet = admin.page.locator("#embed-snippet").inner_text().strip()
    assert snippet == (f'<script src="{base}/static/widget/widget.js" data-switchboard-channel='
                       f'"{stack.data["channel_public_id"]}" async></script>'), snippet
    admin.close()
    shop_url = host_site.page("index.html", HOST_PAGE.format(snippet=snippet))

    # -- two operators log in and go Active ---------------------------------------
    ops = {"olga": people("olga"), "oleg": people("oleg")}
    emails = {"olga": "olga@example.com", "oleg": "oleg@example.com"}
    for name, op in ops.items():
        op.context.grant_permissions(["notifications"], origin=base)
        log_in(op.page, base, emails[name])
        go_active(op.page)
        # A marker that a reload would wipe: everything below must arrive live.
        op.page.evaluate("window.__e2eNoReload = 'still here'")
    artifacts.shot(ops["olga"].page, "olga-active-empty-waiting-list")

    # -- the visitor opens the widget on the shop's page and writes ---------------
    visitor = people("visitor", viewport=(1100, 760))
    vp = visitor.page
    vp.goto(shop_url)
    assert host_site.origin != base and "localhost" in shop_url
    vp.wait_for_function("() => window.Switchboard && window.Switchboard.isReady()")
    widget = vp.locator("switchboard-widget")
    assert vp.evaluate("document.querySelector('switchboard-widget').shadowRoot.mode") == "open"
    expect(widget.locator(".hd")).to_contain_text("We are online")  # two Active operators
    widget.locator("button.ln").click()
    expect(widget.locator(".p")).to_be_visible()
    expect(widget.locator(".lg")).to_contain_text("Hi!")  # the channel's greeting
    first = "Hello! My order 1042 has not arrived yet."
    widget.locator("textarea").fill(first)
    widget.locator("textarea").press("Enter")
    mine = widget.locator(".m.in", has_text=first)
    expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))  # the server's copy
    artifacts.shot(vp, "visitor-first-message")

    # -- both operators see the chat arrive live ------------------------------------
    chat_ids = set()
    for name, op in ops.items():
        item = op.page.locator("#waiting-list > li.chat-item.waiting")
        expect(item).to_have_count(1)
        expect(item).to_contain_text(first)
        expect(item.locator(".accept-btn")).to_be_enabled()
        expect(op.page.locator('[data-count-of="waiting-list"]')).to_have_text("1")
        chat_ids.add(item.get_attribute("data-chat-id"))
        assert op.page.evaluate("window.__e2eNoReload") == "still here", f"{name} reloaded"
    assert len(chat_ids) == 1
    chat_id = int(chat_ids.pop())
    artifacts.shot(ops["oleg"].page, "oleg-sees-waiting-chat")

    # -- both press Accept at the same moment: one wins ------------------------------
    # Both pages share the browser's clock: schedule the two clicks for one instant.
    at = ops["olga"].page.evaluate("Date.now()") + 400
    with ops["olga"].page.expect_response(ACCEPT_RE) as olga_accept, \
            ops["oleg"].page.expect_response(ACCEPT_RE) as oleg_accept:
        for op in ops.values():
            op.page.evaluate("""([id, at]) => {
                const btn = document.querySelector(`#waiting-chat-${id} .accept-btn`);
                setTimeout(() => btn.click(), at - Date.now());
            }""", [chat_id, at])
    accept_status = {"olga": olga_accept.value.status, "oleg": oleg_accept.value.status}
    assert sorted(accept_status.values()) == [200, 409], accept_status
    composer = {n: op.page.locator(f"#chat-controls-{chat_id} form[data-composer]")
                for n, op in ops.items()}
    winner_name = "olga" if accept_status["olga"] == 200 else "oleg"
    loser_name = "oleg" if winner_name == "olga" else "olga"
    win, lose = ops[winner_name].page, ops[loser_name].page
    winner_full = {"olga": "Olga Operator", "oleg": "Oleg Operator"}[winner_name]

    expect(composer[winner_name]).to_be_visible()
    expect(win.locator(f"#chat-header-{chat_id} .status-pill")).to_have_text("In progress")
    expect(win.locator(f"#my-chats #my-chat-{chat_id}")).to_be_visible()
    expect(win.locator(f"#waiting-chat-{chat_id}")).to_have_count(0)
    # The loser: the waiting item is gone, a notice says who got it, no composer.
    expect(lose.locator(f"#waiting-chat-{chat_id}")).to_have_count(0)
    toast = lose.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text(f"{winner_full} has already accepted this chat.")
    artifacts.shot(lose, f"{loser_name}-lost-the-race")
    expect(composer[loser_name]).to_have_count(0)
    expect(lose.locator(f"#my-chat-{chat_id}")).to_have_count(0)
    artifacts.shot(win, f"{winner_name}-won-the-race")

    # -- the winner replies; the visitor sees it live and reads it -----------------------
    # The visitor has minimised the widget meanwhile: the reply is delivered, not read.
    widget.locator(".hd button.x").click()
    expect(widget.locator(".p")).to_be_hidden()
    reply = "Hi, I'm sorry about that! Let me check the parcel for you."
    win.locator(f"#reply-{chat_id}").fill(reply)
    win.locator(f"#reply-{chat_id}").press("Enter")
    out = win.locator(f"#messages-{chat_id} .msg-out", has_text=reply)
    expect(out).to_have_count(1)
    expect(win.locator(f"#reply-{chat_id}")).to_have_value("")
    status = out.locator(".msg-status")
    expect(widget.locator("button.ln .bd")).to_have_text("1")  # the unread badge
    expect(status).to_have_text("Delivered")
    artifacts.shot(vp, "visitor-unread-badge")
    # The visitor opens the widget: the reply is there, and the workspace shows "Read".
    widget.locator("button.ln").click()
    in_widget = widget.locator(".m.out", has_text=reply)
    expect(in_widget).to_be_visible()
    expect(in_widget.locator(".au")).to_have_text(winner_full.split()[0])
    expect(widget.locator("button.ln .bd")).to_have_text("")
    expect(status).to_have_text("Read")

    # -- the visitor sends an image and a file --------------------------------------
    file_input = widget.locator('input[type="file"]')
    file_input.set_input_files(str(files / "damaged-box.png"))
    expect(widget.locator('.m.in[data-id] .im img[alt="damaged-box.png"]')).to_be_visible()
    file_input.set_input_files(str(files / "order-1042.txt"))
    expect(widget.locator('.m.in[data-id] a.fl', has_text="order-1042.txt")).to_be_visible()

    msgs = win.locator(f"#messages-{chat_id}")
    image_loaded(win, msgs.locator('.msg-in img[alt="damaged-box.png"]'))
    their_file = msgs.locator(".msg-in a.msg-file", has_text="order-1042.txt")
    expect(their_file).to_be_visible()
    with win.expect_download() as download:
        their_file.click()
    assert download.value.suggested_filename == "order-1042.txt"
    assert Path(download.value.path()).read_bytes() == (files / "order-1042.txt").read_bytes()
    artifacts.shot(win, f"{winner_name}-sees-visitor-attachments")

    # -- the operator sends an image and a file -------------------------------------------
    attach = win.locator(f"#chat-controls-{chat_id} input[data-attach]")
    send = win.locator(f"#chat-controls-{chat_id}").get_by_role("button", name="Send")
    for name in ("return-label.png", "return-policy.pdf"):
        attach.set_input_files(str(files / name))
        expect(win.locator(f"#chat-controls-{chat_id} .attach-label")).to_have_text(name)
        send.click()
        expect(win.locator(f"#chat-controls-{chat_id} .attach-label")).to_have_text("Attach")
    image_loaded(win, msgs.locator('.msg-out img[alt="return-label.png"]'))
    expect(msgs.locator(".msg-out a.msg-file", has_text="return-policy.pdf")).to_be_visible()

    # The visitor sees the image inline and the file as a download link.
    image_loaded(vp, widget.locator('.m.out .im img[alt="return-label.png"]'))
    link = widget.locator(".m.out a.fl", has_text="return-policy.pdf")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("download", "return-policy.pdf")
    href = link.get_attribute("href")
    assert href.startswith(f"{base}/widget/v1/{stack.data['channel_public_id']}/files/"), href
    # A click opens a new tab (target=_blank) that turns into a download; Playwright reports
    # a download from a popup on the page that opened it.
    with vp.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "return-policy.pdf"
    assert Path(download.value.path()).read_bytes() == PDF
    artifacts.shot(vp, "visitor-sees-operator-attachments")
    # Every operator message has been seen in the open widget: all of them end up "Read".
    statuses = msgs.locator(".msg-out .msg-status")
    expect(statuses).to_have_count(3)
    expect(statuses).to_have_text(["Read", "Read", "Read"])
    artifacts.shot(win, f"{winner_name}-conversation")

    # -- the operator closes the chat ---------------------------------------------------
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    win.on("dialog", on_dialog)
    win.locator(f"#chat-controls-{chat_id}").get_by_role("button", name="Close chat").click()
    expect(win.locator(f"#chat-controls-{chat_id} .closed-note")).to_be_visible()
    assert dialogs == ["Close this chat?"], dialogs
    expect(win.locator(f"#chat-header-{chat_id} .status-pill")).to_have_text("Closed")
    expect(win.locator(f"#my-chat-{chat_id}")).to_have_count(0)
    expect(widget.locator(".dv")).to_contain_text("This conversation has ended.")
    artifacts.shot(vp, "visitor-chat-closed")
    artifacts.shot(win, f"{winner_name}-chat-closed")

    # The workspaces stayed connected the whole time.
    for op in ops.values():
        expect(op.page.locator("#ws-state")).to_have_attribute("data-state", "live")
        assert op.page.evaluate("window.__e2eNoReload") == "still here"

    # -- the chat card shows the statistics the worker computed ---------------------------
    stats_on_card(win, f"{base}/chats/{chat_id}")
    for key, value in (("messages_in", "3"), ("messages_out", "3"), ("attachments", "2 / 2")):
        expect(win.locator(f'#chat-stats [data-stat="{key}"]')).to_have_text(value)
    artifacts.shot(win, "chat-card-statistics", full_page=True)

    # No uncaught JavaScript errors anywhere (console messages are printed at teardown).
    for person in (*ops.values(), visitor):
        assert not person.page_errors, (person.name, person.page_errors)


def test_refusal_toast_when_the_waiting_item_is_already_gone(stack, host_site, people, artifacts):
    """The slow loser: another operator's accept is pushed live (removing the waiting item
    and its Accept button) before the loser's own 409 arrives. The refusal still shows."""
    olga = people("olga")
    log_in(olga.page, stack.base_url, "olga@example.com")
    go_active(olga.page)
    resp = requests.post(
        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
        data={"visitor": secrets.token_hex(16), "client_id": secrets.token_hex(8),
              "text": "Anyone there?"},
        headers={"Origin": host_site.origin}, timeout=10)
    assert resp.status_code == 202
    item = olga.page.locator("#waiting-list > li.chat-item.waiting")
    expect(item).to_contain_text("Anyone there?")
    chat_id = item.get_attribute("data-chat-id")
    oleg = Operator(stack, "oleg@example.com", PASSWORD)
    assert oleg.post("/workspace/presence", {"presence": "active"}).status_code == 200

    def slow_accept(route):
        # Oleg gets there first; Olga's answer is held until the live update has removed
        # her waiting item (and the button that sent the request).
        assert oleg.post(f"/workspace/chats/{chat_id}/accept").status_code == 200
        answer = route.fetch()
        olga.page.wait_for_function("id => !document.getElementById('waiting-chat-' + id)",
                                    arg=chat_id, timeout=TIMEOUT_MS)
        route.fulfill(response=answer)

    olga.page.route(ACCEPT_RE, slow_accept)
    with olga.page.expect_response(ACCEPT_RE) as accepted:
        item.locator(".accept-btn").click()
    assert accepted.value.status == 409
    toast = olga.page.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast).to_have_text("Oleg Operator has already accepted this chat.")
    expect(olga.page.locator("#chat-panel form[data-composer]")).to_have_count(0)
    artifacts.shot(olga.page, "olga-refused-after-item-removed")


def test_reconnect_resyncs_what_was_missed(stack, host_site, people, artifacts):
    """The operator's connection drops; meanwhile a chat arrives and is pushed to nobody.
    When the connection comes back, the page shows it was disconnected, then catches up
    without a reload."""
    olga = people("olga")
    log_in(olga.page, stack.base_url, "olga@example.com")
    go_active(olga.page)
    olga.page.evaluate("window.__e2eNoReload = 'still here'")
    stack.stop_worker()  # the message will be stored but not processed yet
    resp = requests.post(
        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
        data={"visitor": secrets.token_hex(16), "client_id": secrets.token_hex(8),
              "text": "Sent while you were offline"},
        headers={"Origin": host_site.origin}, timeout=10)
    assert resp.status_code == 202
    stack._stop("web")  # the operator's socket drops
    expect(olga.page.locator("#ws-state")).to_have_attribute("data-state", "offline")
    artifacts.shot(olga.page, "disconnected")
    stack.start_worker()  # processes the message and publishes it: no socket hears it
    # The chat exists before the web comes back.
    wait_for(lambda: _chat_count(stack) == 1, timeout=30, message="the worker to open the chat")
    stack.start_web()
    expect(olga.page.locator("#ws-state")).to_have_attribute("data-state", "live", timeout=40_000)
    expect(olga.page.locator("#waiting-list > li.chat-item.waiting")).to_contain_text(
        "Sent while you were offline")
    assert olga.page.evaluate("window.__e2eNoReload") == "still here"
    artifacts.shot(olga.page, "resynced")


def _chat_count(stack) -> int:
    import sqlalchemy as sa
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM chats")).scalar()
    finally:
        engine.dispose()
