"""The website widget while the team is away, in real Chromium.

Nobody in the queue is Active: the widget on the customer's page says the team is away;
the visitor still writes (the message is kept and waits in the queue), gets the queue's
away reply, and leaves an e-mail in the card the widget offers, which lands on the contact.
When an operator goes Active, the open widget finds out by itself.
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from stack import wait_for

from .test_website_chat import HOST_PAGE, go_active, log_in

pytestmark = pytest.mark.e2e

AWAY_REPLY = "Thanks for your message! We’re away right now and will answer as soon as we’re back."


def _prepare_queue(stack) -> None:
    """The Support queue asks for an e-mail while away and has an away reply."""
    from app.extensions import db
    from app.models import ChatQueue
    app = stack.app()
    with app.app_context():
        queue = db.session.get(ChatQueue, stack.data["support_id"])
        queue.ask_email_offline = True
        queue.offline_message = AWAY_REPLY
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _one_row(stack, sql: str, **params):
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).one_or_none()
    finally:
        engine.dispose()


def test_away_widget_takes_the_message_and_an_email(stack, host_site, people, artifacts):
    base = stack.base_url
    public_id = stack.data["channel_public_id"]
    _prepare_queue(stack)
    snippet = (f'<script src="{base}/static/widget/widget.js" '
               f'data-switchboard-channel="{public_id}" async></script>')
    shop_url = host_site.page("index.html", HOST_PAGE.format(snippet=snippet))

    # -- nobody is Active: the widget says the team is away -------------------------------
    visitor = people("visitor", viewport=(1100, 760))
    vp = visitor.page
    vp.goto(shop_url)
    vp.wait_for_function("() => window.Switchboard && window.Switchboard.isReady()")
    widget = vp.locator("switchboard-widget")
    header = widget.locator(".hd")
    status = header.get_by_role("status")
    widget.get_by_role("button", name="Open chat").click()
    expect(widget.locator(".p")).to_be_visible()
    expect(status).to_contain_text("We’re away")
    expect(status).to_contain_text("We’ll reply when we’re back")
    expect(header).not_to_have_class(re.compile(r"\bon\b"))  # the grey dot, not the green one
    dot = widget.locator(".hd .dt")
    assert dot.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(154, 161, 173)"
    artifacts.shot(vp, "widget-away")

    # -- the visitor writes anyway: the message is accepted and kept ----------------------
    text = "Hello, do you ship to Norway?"
    composer = widget.get_by_role("textbox", name="Write a message…")
    composer.fill(text)
    composer.press("Enter")
    mine = widget.locator(".m.in", has_text=text)
    expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))  # stored by the worker
    expect(widget.locator(".m.out", has_text=AWAY_REPLY)).to_be_visible()  # the away reply
    row = _one_row(stack, "SELECT c.status, c.contact_id FROM chats c JOIN messages m "
                          "ON m.chat_id = c.id WHERE m.text = :t", t=text)
    assert row is not None and row.status == "queued", row
    contact_id = row.contact_id

    # -- the e-mail card: a bad address is refused, a good one saved ----------------------
    email_box = widget.get_by_role("textbox", name="Leave your e-mail and we’ll answer there")
    expect(email_box).to_be_visible()
    artifacts.shot(vp, "widget-away-email-card")
    email_box.fill("ann.at.example.com")
    email_box.press("Enter")  # the keyboard is enough
    error = widget.locator(".ec").get_by_role("alert")
    expect(error).to_have_text("This does not look like an e-mail address. Please check it.")
    expect(email_box).to_have_attribute("aria-invalid", "true")
    expect(email_box).to_be_focused()
    artifacts.shot(vp, "widget-away-email-refused")
    assert _one_row(stack, "SELECT email FROM contacts WHERE id = :id", id=contact_id).email is None
    email_box.fill("ann.hansen@example.com")
    widget.get_by_role("button", name="Save").click()
    thanks = widget.locator(".ec .et")
    expect(thanks).to_have_text("Thanks — we’ll write to ann.hansen@example.com.")
    expect(thanks).to_be_focused()
    expect(email_box).to_have_count(0)
    artifacts.shot(vp, "widget-away-email-saved")
    wait_for(lambda: _one_row(stack, "SELECT email FROM contacts WHERE id = :id",
                              id=contact_id).email == "ann.hansen@example.com",
             message="the e-mail on the contact")

    # The card does not come back on the next page view (remembered per channel).
    vp.reload()
    vp.wait_for_function("() => window.Switchboard && window.Switchboard.isReady()")
    widget.get_by_role("button", name="Open chat").click()
    expect(widget.locator(".m.in", has_text=text)).to_have_attribute("data-id", re.compile(r"\d"))
    expect(widget.locator(".ec")).to_have_count(0)

    # -- the console: the contact card shows the e-mail ----------------------------------
    admin = people("admin")
    log_in(admin.page, base, "ada@example.com")
    admin.page.goto(f"{base}/contacts/{contact_id}")
    details = admin.page.locator("dl.details")
    expect(details.locator("dt", has_text="E-mail").locator("+ dd")).to_have_text(
        "ann.hansen@example.com")
    artifacts.shot(admin.page, "contact-card-with-email")

    # -- an operator goes Active: the message waits for them, the widget says online -----
    olga = people("olga")
    log_in(olga.page, base, "olga@example.com")
    go_active(olga.page)
    item = olga.page.locator("#waiting-list > li.chat-item.waiting")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(text)
    # The open widget fetches the availability again on opening and every minute; the
    # server caches it for a few seconds: reopen until it says so.
    online = re.compile("We are online")
    launcher = widget.locator("button.ln")

    def widget_says_online() -> bool:
        launcher.click()  # minimize
        launcher.click()  # and open again
        try:
            expect(status).to_have_text(online, timeout=2000)
            return True
        except AssertionError:
            return False

    wait_for(widget_says_online, timeout=40, interval=1, message="the widget to say online")
    expect(header).to_have_class(re.compile(r"\bon\b"))
    assert dot.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(47, 191, 113)"
    artifacts.shot(vp, "widget-online-again")

    for person in (visitor, admin, olga):
        assert not person.page_errors, (person.name, person.page_errors)

