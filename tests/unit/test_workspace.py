import io

from app.extensions import db
from app.models import Chat, ChatStats, Message
from app.services import users
from helpers import ORIGIN, pdf_bytes, png_bytes, visitor_id, widget_post


def new_chat(app, org, text="Hello", visitor=None):
    visitor = visitor or visitor_id()
    assert widget_post(app.test_client(), org.channel, visitor, text=text).status_code == 202
    chat = db.session.scalar(db.select(Chat).order_by(Chat.id.desc()))
    return chat, visitor


def test_only_active_operators_see_waiting_chats(app, org, login):
    olga = login(org.olga)
    chat, _ = new_chat(app, org, "Need help")
    page = olga.get("/workspace").get_data(as_text=True)
    assert f"waiting-chat-{chat.id}" not in page
    assert "You are not Active" in page
    resp = olga.post("/workspace/presence", {"presence": "active"}, htmx=True)
    assert resp.status_code == 200
    assert f"waiting-chat-{chat.id}" in resp.get_data(as_text=True)
    db.session.refresh(chat)
    assert chat.status == "offered" and chat.offered_at is not None


def test_new_chat_is_offered_when_someone_is_active(app, org):
    users.set_presence(org.olga, "active")
    chat, _ = new_chat(app, org)
    assert chat.status == "offered"


def test_operator_of_another_queue_cannot_see_or_accept(app, org, login):
    users.set_presence(org.sam, "active")
    chat, _ = new_chat(app, org)
    sam = login(org.sam)
    assert f"waiting-chat-{chat.id}" not in sam.get("/workspace").get_data(as_text=True)
    assert sam.get(f"/workspace/chats/{chat.id}").status_code == 404
    resp = sam.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    assert resp.status_code == 404
    assert "not in your queues" in resp.get_data(as_text=True)
    assert sam.get(f"/chats/{chat.id}").status_code == 404
    db.session.refresh(chat)
    assert chat.assignee_id is None


def test_two_operators_accept_exactly_one_wins(app, org, login, hub):
    for u in (org.olga, org.oleg):
        users.set_presence(u, "active")
    chat, _ = new_chat(app, org)
    olga, oleg = login(org.olga), login(org.oleg)
    first = olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    second = oleg.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    assert first.status_code == 200
    assert "chat-controls" in first.get_data(as_text=True)
    assert second.status_code == 409
    # Oleg works in Russian: the refusal names the winner in his language.
    assert "Этот чат уже принят" in second.get_data(as_text=True)
    assert "Olga Operator" in second.get_data(as_text=True)
    assert second.headers["X-Switchboard-Toast"] == "1"
    db.session.refresh(chat)
    assert chat.assignee_id == org.olga.id and chat.status == "active"
    # Everyone in the queue was told to drop the waiting item.
    queue_events = [e for t, e in hub.published if t == f"queue:{org.support.id}"]
    assert any(f'id="waiting-chat-{chat.id}" hx-swap-oob="delete"' in e["html"]["en"]
               for e in queue_events)


def test_only_the_assignee_replies(app, org, login):
    users.set_language(org.oleg, "en")
    users.set_presence(org.olga, "active")
    chat, _ = new_chat(app, org)
    olga, oleg = login(org.olga), login(org.oleg)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    resp = oleg.post(f"/workspace/chats/{chat.id}/messages", {"text": "I'll take it"}, htmx=True)
    assert resp.status_code == 403
    assert "Only the operator who accepted this chat can reply." in resp.get_data(as_text=True)
    assert chat.messages.filter_by(direction="out").count() == 0


def test_reply_is_delivered_to_the_visitor_and_receipts_update_status(app, org, login, hub):
    users.set_presence(org.olga, "active")
    chat, visitor = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    resp = olga.post(f"/workspace/chats/{chat.id}/messages", {"text": "Hi, I'm Olga"}, htmx=True)
    assert resp.status_code == 204
    msg = db.session.scalar(db.select(Message).where(Message.direction == "out"))
    assert msg.status == "sent"  # the inline worker delivered it
    pushed = [e for t, e in hub.published if t == f"visitor:{org.channel.id}:{visitor}"
              and e.get("type") == "message" and e["message"]["direction"] == "out"]
    assert pushed[-1]["message"]["text"] == "Hi, I'm Olga"
    assert pushed[-1]["message"]["author"] == "Olga"
    client = app.test_client()
    resp = client.post(f"/widget/v1/{org.channel.public_id}/receipts",
                       json={"visitor": visitor, "read": msg.id}, headers={"Origin": ORIGIN})
    assert resp.status_code == 204
    db.session.refresh(msg)
    assert msg.status == "read"
    # Receipts never move backwards.
    client.post(f"/widget/v1/{org.channel.public_id}/receipts",
                json={"visitor": visitor, "delivered": msg.id}, headers={"Origin": ORIGIN})
    db.session.refresh(msg)
    assert msg.status == "read"


def test_operator_sends_image_and_file(app, org, login):
    users.set_presence(org.olga, "active")
    chat, visitor = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    for name, data in (("pic.png", png_bytes()), ("terms.pdf", pdf_bytes())):
        resp = olga.post(f"/workspace/chats/{chat.id}/messages",
                         {"text": "", "file": (io.BytesIO(data), name)}, htmx=True,
                         content_type="multipart/form-data")
        assert resp.status_code == 204, resp.get_data(as_text=True)
    body = app.test_client().get(
        f"/widget/v1/{org.channel.public_id}/conversation?visitor={visitor}",
        headers={"Origin": ORIGIN}).get_json()
    out = [m for m in body["messages"] if m["direction"] == "out"]
    assert [(a["name"], a["image"]) for m in out for a in m["attachments"]] == \
        [("pic.png", True), ("terms.pdf", False)]
    page = olga.get(f"/workspace/chats/{chat.id}").get_data(as_text=True)
    assert "pic.png" in page and "terms.pdf" in page


def test_disguised_operator_upload_is_refused(app, org, login):
    users.set_presence(org.olga, "active")
    chat, _ = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    resp = olga.post(f"/workspace/chats/{chat.id}/messages",
                     {"text": "", "file": (io.BytesIO(b"#!/bin/sh\nrm -rf /\n"), "safe.pdf")},
                     htmx=True, content_type="multipart/form-data")
    assert resp.status_code == 415
    assert chat.messages.filter_by(direction="out").count() == 0


def test_unread_count_and_mark_read(app, org, login):
    users.set_presence(org.olga, "active")
    chat, visitor = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    widget_post(app.test_client(), org.channel, visitor, text="are you there?")
    widget_post(app.test_client(), org.channel, visitor, text="hello??")
    db.session.refresh(chat)
    assert chat.unread_count == 2
    assert olga.post(f"/workspace/chats/{chat.id}/read", htmx=True).status_code == 204
    db.session.refresh(chat)
    assert chat.unread_count == 0


def test_close_computes_statistics_and_next_message_opens_new_chat(app, org, login):
    users.set_presence(org.olga, "active")
    chat, visitor = new_chat(app, org, "first")
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    olga.post(f"/workspace/chats/{chat.id}/messages", {"text": "answer"}, htmx=True)
    resp = olga.post(f"/workspace/chats/{chat.id}/close", htmx=True)
    assert resp.status_code == 200
    db.session.refresh(chat)
    assert chat.status == "closed" and chat.open_identity_id is None
    stats = db.session.get(ChatStats, chat.id)
    assert stats.messages_in == 1 and stats.messages_out == 1
    assert stats.first_response_seconds is not None and stats.handle_seconds is not None
    card = olga.get(f"/chats/{chat.id}").get_data(as_text=True)
    assert 'data-stat="messages_in">1<' in card
    assert olga.post(f"/workspace/chats/{chat.id}/close", htmx=True).status_code == 409
    widget_post(app.test_client(), org.channel, visitor, text="me again")
    chats = list(db.session.scalars(db.select(Chat).order_by(Chat.id)))
    assert len(chats) == 2 and chats[1].status == "offered"
    assert chats[0].contact_id == chats[1].contact_id


def test_chats_section_filters(app, org, login):
    users.set_presence(org.olga, "active")
    c1, _ = new_chat(app, org, "refund please")
    c2, _ = new_chat(app, org, "delivery time")
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{c1.id}/accept", htmx=True)
    page = olga.get("/chats?q=refund").get_data(as_text=True)
    assert f"/chats/{c1.id}" in page and f"/chats/{c2.id}" not in page
    page = olga.get("/chats?status=waiting").get_data(as_text=True)
    assert f"/chats/{c2.id}" in page and f"/chats/{c1.id}" not in page
    page = olga.get(f"/chats?operator={org.olga.id}").get_data(as_text=True)
    assert f"/chats/{c1.id}" in page and f"/chats/{c2.id}" not in page
    assert olga.get("/chats?from=not-a-date&queue=abc").status_code == 200


def test_contacts_list_and_card(app, org, login):
    chat, _ = new_chat(app, org, "hi")
    olga = login(org.olga)
    page = olga.get("/contacts").get_data(as_text=True)
    assert f"/contacts/{chat.contact_id}" in page
    card = olga.get(f"/contacts/{chat.contact_id}").get_data(as_text=True)
    assert "Main site" in card and f"/chats/{chat.id}" in card
    sam = login(org.sam)  # another queue: the contact never wrote to Sales
    assert f"/contacts/{chat.contact_id}" not in sam.get("/contacts").get_data(as_text=True)
    assert sam.get(f"/contacts/{chat.contact_id}").status_code == 404


def test_unknown_chat_ids_are_404_not_500(app, org, login):
    olga = login(org.olga)
    for url in ("/workspace/chats/999", "/chats/999"):
        assert olga.get(url).status_code == 404
    assert olga.post("/workspace/chats/999/accept", htmx=True).status_code == 404
    assert olga.post("/workspace/presence", {"presence": "dancing"}, htmx=True).status_code == 400


def test_second_page_of_lists_renders(app, org, login):
    for i in range(32):
        new_chat(app, org, f"question {i}")
    olga = login(org.olga)
    for url in ("/contacts?page=2", "/chats?page=2"):
        resp = olga.get(url)
        assert resp.status_code == 200, url
        assert "Previous" in resp.get_data(as_text=True)


def test_socket_address_is_relative_so_https_proxies_get_wss(org, login):
    """Behind a TLS-terminating proxy the app sees http: an absolute ws:// address would be
    blocked on the https page. htmx's ws extension turns "/ws" into wss:// there."""
    page = login(org.olga).get("/workspace").get_data(as_text=True)
    assert 'ws-connect="/ws"' in page
