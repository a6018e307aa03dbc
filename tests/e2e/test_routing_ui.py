"""Round robin in the browser: an offer reaches one operator (highlighted, with a countdown);
the other sees who it is offered to and cannot take it; Pass sends it on, live; the
operator who accepts transfers it to a colleague with a comment the colleague reads."""
from __future__ import annotations

import re
import secrets

import pytest
import requests
from playwright.sync_api import expect

from .test_website_chat import go_active, log_in

pytestmark = pytest.mark.e2e


def test_offer_pass_accept_and_transfer_with_a_comment(stack, host_site, people, artifacts):
    app = stack.app()
    from app.extensions import db
    from app.models import ChatQueue
    with app.app_context():
        queue = db.session.get(ChatQueue, stack.data["support_id"])
        queue.routing_mode, queue.offer_timeout_seconds = "round_robin", 120
        db.session.commit()
        db.session.remove()
    olga, oleg = people("olga"), people("oleg")
    for person, email in ((olga, "olga@example.com"), (oleg, "oleg@example.com")):
        log_in(person.page, stack.base_url, email)
        go_active(person.page)

    resp = requests.post(
        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
        data={"visitor": secrets.token_hex(16), "client_id": secrets.token_hex(8),
              "text": "My parcel is late"}, headers={"Origin": host_site.origin}, timeout=10)
    assert resp.status_code == 202

    def item(person):
        return person.page.locator("#waiting-list > li.chat-item.waiting")

    # Exactly one of them has the offer; the other sees it, dimmed, with no buttons.
    for person in (olga, oleg):
        expect(item(person)).to_contain_text("My parcel is late")
        expect(item(person)).to_have_class(re.compile(r"offer-(mine|other)"))
    mine = olga if "offer-mine" in item(olga).get_attribute("class") else oleg
    other = oleg if mine is olga else olga
    expect(item(mine)).to_contain_text("Offered to you")
    expect(item(mine).locator(".offer-countdown")).to_have_text(re.compile(r"\d+ s"))
    expect(item(other)).to_contain_text("Offered to")
    expect(item(other).locator(".accept-btn")).to_be_hidden()
    artifacts.shot(mine.page, "offer-to-me")
    artifacts.shot(other.page, "offer-to-a-colleague")

    # Pass: the offer moves to the colleague, live in both browsers.
    item(mine).locator(".decline-btn").click()
    expect(item(other)).to_have_class(re.compile(r"offer-mine"))
    expect(item(mine)).to_have_class(re.compile(r"offer-other"))

    # Alt+A takes the oldest chat offered to you, never one offered to a colleague.
    accepts = []
    mine.page.on("request", lambda r: "/accept" in r.url and accepts.append(r.url))
    mine.page.keyboard.press("Alt+a")
    other.page.keyboard.press("Alt+a")
    expect(other.page.locator("#chat-panel form[data-composer]")).to_be_visible()
    assert accepts == []  # the keypress sent nothing from the colleague's page
    expect(mine.page.locator("#chat-panel form[data-composer]")).to_have_count(0)
    # The colleague transfers it back with a comment.
    expect(other.page.locator("#chat-panel form[data-composer]")).to_be_visible()
    other.page.locator("#chat-panel").get_by_role("button", name="Transfer").click()
    dialog = other.page.locator("dialog.transfer-modal")
    expect(dialog).to_be_visible()
    target = "Olga Operator" if mine is olga else "Oleg Operator"
    value = dialog.locator("option", has_text=target).get_attribute("value")
    dialog.locator("select").select_option(value)
    dialog.locator("textarea").fill("Tracking number is in the first message")
    artifacts.shot(other.page, "transfer-dialog")
    dialog.get_by_role("button", name="Transfer").click()
    expect(dialog).to_have_count(0)
    expect(other.page.locator("#my-chats > li")).to_have_count(0)

    # The chat is now in the first operator's list; the comment is in the transcript.
    mine_item = mine.page.locator("#my-chats > li")
    expect(mine_item).to_have_count(1)
    mine_item.locator("a").click()
    note = mine.page.locator("#chat-panel .event-note.event-transferred")
    expect(note).to_contain_text("Tracking number is in the first message")
    expect(mine.page.locator("#chat-panel .why-here summary")).to_have_text("Why here?")
    mine.page.locator("#chat-panel .why-here summary").click()
    expect(mine.page.locator("#chat-panel .why-here p")).to_contain_text("transferred the chat to")
    artifacts.shot(mine.page, "transferred-with-comment")
    for person in (olga, oleg):
        assert not person.page_errors, person.page_errors
