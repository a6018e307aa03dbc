import io

from app.extensions import db
from app.models import Attachment, Chat, Contact, InboundEvent, Message
from helpers import ORIGIN, pdf_bytes, png_bytes, visitor_id, widget_post


def count(model):
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_config_is_readable_and_creates_nothing(org, app):
    client = app.test_client()
    resp = client.get(f"/widget/v1/{org.channel.public_id}/config", headers={"Origin": ORIGIN})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["channel"]["title"] == "Main site"
    assert body["online"] is False
    assert body["strings"]["placeholder"]
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert count(Contact) == 0 and count(Chat) == 0 and count(InboundEvent) == 0


def test_foreign_origin_is_refused(org, app):
    client = app.test_client()
    resp = client.get(f"/widget/v1/{org.channel.public_id}/config",
                      headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403
    assert resp.get_json()["error"] == "This site is not allowed to use this chat."
    resp = widget_post(client, org.channel, visitor_id(), origin="https://evil.example")
    assert resp.status_code == 403
    assert count(InboundEvent) == 0


def test_unknown_channel_is_404(org, app):
    resp = app.test_client().get("/widget/v1/nope/config", headers={"Origin": ORIGIN})
    assert resp.status_code == 404
    assert "not available" in resp.get_json()["error"]


def test_malformed_requests_are_refused_and_change_nothing(org, app):
    client = app.test_client()
    assert widget_post(client, org.channel, "not-hex").status_code == 400
    assert widget_post(client, org.channel, visitor_id(), client_id="<script>").status_code == 400
    assert widget_post(client, org.channel, visitor_id(), text="   ").status_code == 400
    resp = widget_post(client, org.channel, visitor_id(), text="x" * 5001)
    assert resp.status_code == 400 and "too long" in resp.get_json()["error"]
    resp = client.post(f"/widget/v1/{org.channel.public_id}/receipts", data="{not json",
                       headers={"Origin": ORIGIN}, content_type="application/json")
    assert resp.status_code == 400
    assert count(InboundEvent) == 0 and count(Contact) == 0


def test_first_message_creates_contact_and_chat_in_queue(org, app, hub):
    client = app.test_client()
    visitor = visitor_id()
    resp = widget_post(client, org.channel, visitor, text="Where is my order?")
    assert resp.status_code == 202
    chat = db.session.scalar(db.select(Chat))
    assert chat.queue_id == org.support.id and chat.status == "queued"
    assert chat.identity.external_id == visitor
    assert [m.text for m in chat.messages] == ["Where is my order?"]
    assert count(Contact) == 1
    topics = [t for t, _ in hub.published]
    assert f"queue:{org.support.id}" in topics


def test_resent_message_is_not_duplicated(org, app):
    client = app.test_client()
    visitor = visitor_id()
    assert widget_post(client, org.channel, visitor, client_id="abcdef0123").status_code == 202
    assert widget_post(client, org.channel, visitor, client_id="abcdef0123").status_code == 200
    assert count(Message) == 1 and count(InboundEvent) == 1


def test_same_visitor_continues_the_same_chat(org, app):
    client = app.test_client()
    visitor = visitor_id()
    for text in ("one", "two", "three"):
        widget_post(client, org.channel, visitor, text=text)
    assert count(Chat) == 1
    resp = client.get(f"/widget/v1/{org.channel.public_id}/conversation?visitor={visitor}",
                      headers={"Origin": ORIGIN})
    body = resp.get_json()
    assert [m["text"] for m in body["messages"]] == ["one", "two", "three"]
    assert body["chat"]["status"] == "queued"
    after = body["messages"][0]["id"]
    resp = client.get(f"/widget/v1/{org.channel.public_id}/conversation?visitor={visitor}&after={after}",
                      headers={"Origin": ORIGIN})
    assert [m["text"] for m in resp.get_json()["messages"]] == ["two", "three"]


def test_unprocessed_messages_are_still_shown_to_the_visitor(org, app, monkeypatch):
    import app.services.inbound as inbound
    monkeypatch.setattr(inbound, "schedule_drain", lambda channel_id: False)  # worker/Redis down
    client = app.test_client()
    visitor = visitor_id()
    assert widget_post(client, org.channel, visitor, text="anyone?", client_id="c1c1c1c1c1").status_code == 202
    resp = client.get(f"/widget/v1/{org.channel.public_id}/conversation?visitor={visitor}",
                      headers={"Origin": ORIGIN})
    messages = resp.get_json()["messages"]
    assert messages == [{"id": None, "client_id": "c1c1c1c1c1", "direction": "in", "text": "anyone?",
                         "created_at": messages[0]["created_at"], "status": "accepted",
                         "author": None, "attachments": []}]
    assert count(InboundEvent) == 1 and count(Message) == 0


def test_image_upload_is_reencoded_and_served(org, app):
    client = app.test_client()
    visitor = visitor_id()
    resp = widget_post(client, org.channel, visitor, text="",
                       file=(io.BytesIO(png_bytes()), "photo.png"))
    assert resp.status_code == 202
    att = db.session.scalar(db.select(Attachment))
    assert att.is_image and att.mime == "image/png" and att.width == 8
    body = client.get(f"/widget/v1/{org.channel.public_id}/conversation?visitor={visitor}",
                      headers={"Origin": ORIGIN}).get_json()
    url = body["messages"][0]["attachments"][0]["url"]
    path = url.split("http://localhost", 1)[1]
    served = client.get(path)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(path[:-3] + "xyz").status_code == 404  # tampered token


def test_disguised_file_is_refused(org, app):
    client = app.test_client()
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    resp = widget_post(client, org.channel, visitor_id(), text="",
                       file=(io.BytesIO(exe), "cute-cat.png"))
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "This type of file is not allowed."
    assert count(InboundEvent) == 0


def test_oversized_file_is_refused(org, app):
    app.config["MAX_UPLOAD_BYTES"] = 1000
    resp = widget_post(app.test_client(), org.channel, visitor_id(), text="",
                       file=(io.BytesIO(pdf_bytes() + b"0" * 2000), "big.pdf"))
    assert resp.status_code == 413
    assert "too large" in resp.get_json()["error"]
    assert count(InboundEvent) == 0


def test_pdf_is_accepted_as_file(org, app):
    resp = widget_post(app.test_client(), org.channel, visitor_id(), text="invoice",
                       file=(io.BytesIO(pdf_bytes()), "invoice.pdf"))
    assert resp.status_code == 202
    att = db.session.scalar(db.select(Attachment))
    assert att.mime == "application/pdf" and not att.is_image and att.filename == "invoice.pdf"


def test_disabled_channel_accepts_nothing(org, app):
    org.channel.is_enabled = False
    db.session.commit()
    resp = widget_post(app.test_client(), org.channel, visitor_id())
    assert resp.status_code == 403
    assert count(InboundEvent) == 0


def test_preflight_for_allowed_origin(org, app):
    resp = app.test_client().options(f"/widget/v1/{org.channel.public_id}/receipts",
                                     headers={"Origin": ORIGIN,
                                              "Access-Control-Request-Method": "POST"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_corrupt_image_is_refused_not_a_500(org, app):
    broken = png_bytes()[:-20] + b"garbage"
    resp = widget_post(app.test_client(), org.channel, visitor_id(), text="",
                       file=(io.BytesIO(broken), "broken.png"))
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "This image could not be read."
    assert count(InboundEvent) == 0


# -- business hours and away ------------------------------------------------------------
def _config(app, org):
    resp = app.test_client().get(f"/widget/v1/{org.channel.public_id}/config",
                                 headers={"Origin": ORIGIN})
    assert resp.status_code == 200
    return resp.get_json()


def _go_active(user):
    user.presence = "active"
    db.session.commit()


def _closed_today(queue, zone="Europe/Berlin"):
    """Working hours 09:00-17:00 every day except today (in the queue's zone): closed now,
    opening tomorrow at 09:00. Returns tomorrow's weekday name."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    today = datetime.now(ZoneInfo(zone)).date()
    queue.hours_enabled = True
    queue.timezone = zone
    queue.hours = {str(d): [["09:00", "17:00"]] for d in range(7) if d != today.weekday()}
    db.session.commit()
    return (today + timedelta(days=1)).strftime("%A")


def test_config_unavailable_when_nobody_is_active(org, app):
    body = _config(app, org)
    assert body["availability"] == {"available": False, "next_open": None, "ask_email": False}
    assert body["online"] is False
    assert body["strings"]["away"] == "We’re away"
    assert body["strings"]["away_reply"] == "We’ll reply when we’re back"


def test_config_available_with_an_active_member_and_no_hours(org, app):
    _go_active(org.olga)
    org.support.ask_email_offline = True
    db.session.commit()
    body = _config(app, org)
    assert body["availability"] == {"available": True, "next_open": None, "ask_email": True}
    assert body["online"] is True


def test_active_member_of_another_queue_does_not_count(org, app):
    _go_active(org.sam)  # Sales, not Support
    assert _config(app, org)["availability"]["available"] is False


def test_config_unavailable_outside_working_hours_with_next_opening(org, app):
    _go_active(org.olga)  # someone is Active, but the queue is closed today
    tomorrow = _closed_today(org.support)
    body = _config(app, org)
    expected = f"{tomorrow} 09:00 (Europe/Berlin)"
    assert body["availability"] == {"available": False, "next_open": expected, "ask_email": False}
    assert body["strings"]["away_reply"] == f"We’ll reply when we’re back, {expected}"


def test_next_opening_is_in_the_visitors_language(org, app):
    _closed_today(org.support)
    resp = app.test_client().get(f"/widget/v1/{org.channel.public_id}/config",
                                 headers={"Origin": ORIGIN, "Accept-Language": "ru"})
    next_open = resp.get_json()["availability"]["next_open"]
    assert next_open.endswith(" 09:00 (Europe/Berlin)")
    assert next_open[0] not in "MTWFS"  # a Russian weekday name, not an English one


def test_availability_is_cached_briefly(org, app, monkeypatch):
    import app.services.widget_view as widget_view
    assert _config(app, org)["availability"]["available"] is False
    _go_active(org.olga)
    # Within the cache time the config is served without asking the database again.
    assert _config(app, org)["availability"]["available"] is False
    monkeypatch.setattr(widget_view, "AVAILABILITY_SECONDS", 0.0)
    assert _config(app, org)["availability"]["available"] is True


def _contact_post(client, channel, visitor, email, origin=ORIGIN):
    return client.post(f"/widget/v1/{channel.public_id}/contact",
                       data={"visitor": visitor, "email": email},
                       headers={"Origin": origin} if origin else {})


def test_visitor_leaves_an_email(org, app):
    client = app.test_client()
    visitor = visitor_id()
    assert widget_post(client, org.channel, visitor, text="Anyone there?").status_code == 202
    resp = _contact_post(client, org.channel, visitor, "  Ann.Smith@Example.COM ")
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    body = resp.get_json()
    assert body["email"] == "Ann.Smith@example.com"
    assert body["message"] == "Thanks — we’ll write to Ann.Smith@example.com."
    contact = db.session.scalar(db.select(Contact))
    db.session.refresh(contact)
    assert contact.email == "Ann.Smith@example.com"


def test_bad_email_is_refused_and_nothing_saved(org, app):
    client = app.test_client()
    visitor = visitor_id()
    widget_post(client, org.channel, visitor)
    for bad in ("", "   ", "not an address", "ann@", "@example.com", "ann@example",
                "a" * 250 + "@example.com"):
        resp = _contact_post(client, org.channel, visitor, bad)
        assert resp.status_code == 400, bad
        assert resp.get_json()["error"] in ("Please enter your e-mail address.",
                                            "This does not look like an e-mail address. "
                                            "Please check it."), bad
    contact = db.session.scalar(db.select(Contact))
    db.session.refresh(contact)
    assert contact.email is None


def test_email_of_unknown_visitor_is_404(org, app):
    resp = _contact_post(app.test_client(), org.channel, visitor_id(), "ann@example.com")
    assert resp.status_code == 404
    assert "could not find your conversation" in resp.get_json()["error"]
    assert count(Contact) == 0


def test_email_from_foreign_origin_or_malformed_visitor_is_refused(org, app):
    client = app.test_client()
    visitor = visitor_id()
    widget_post(client, org.channel, visitor)
    resp = _contact_post(client, org.channel, visitor, "ann@example.com",
                         origin="https://evil.example")
    assert resp.status_code == 403
    assert resp.get_json()["error"] == "This site is not allowed to use this chat."
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert _contact_post(client, org.channel, "not-hex", "ann@example.com").status_code == 400
    from app.services import channels
    channels.set_enabled(org.channel, False)
    assert _contact_post(client, org.channel, visitor, "ann@example.com").status_code == 403
    contact = db.session.scalar(db.select(Contact))
    db.session.refresh(contact)
    assert contact.email is None


def test_email_endpoint_is_rate_limited(org, app):
    app.config["WIDGET_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    visitor = visitor_id()
    codes = [_contact_post(client, org.channel, visitor, "ann@example.com").status_code
             for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429], codes
