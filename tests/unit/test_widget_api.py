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
