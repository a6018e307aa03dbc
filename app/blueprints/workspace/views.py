"""The operator workspace: waiting chats, my chats, the open chat, presence."""
from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...extensions import db
from ...models import Chat, ChatEvent, Message, PRESENCES
from ...services import access, chats, history, routing, storage, users
from ...services.errors import ServiceError
from . import bp


@bp.before_request
@login_required
def _login():
    return None


def waiting_chats(user):
    if user.presence != "active":
        return []
    query = access.visible_chats(user).where(Chat.status.in_(("queued", "offered")))
    return list(db.session.scalars(query.order_by(Chat.created_at)))


def my_chats(user):
    return list(db.session.scalars(db.select(Chat).where(
        Chat.assignee_id == user.id, Chat.status == "active").order_by(Chat.last_message_at.desc())))


def _panel_context(chat):
    """The open chat's transcript: messages, and between them the changes of hands
    (transfers with their comments, timeouts) the operator should know about."""
    if chat is None:
        return {"chat": None, "messages": []}
    items = list(chat.messages.limit(500))
    events = list(chat.events.where(ChatEvent.kind.in_(history.TRANSCRIPT_KINDS)))
    if events:
        items = sorted(items + events, key=lambda i: (
            i.sent_at if isinstance(i, Message) else i.created_at))
    return {"chat": chat, "messages": items}


@bp.get("/")
def root():
    return redirect(url_for("workspace.index"))


@bp.get("/workspace")
@bp.get("/workspace/chats/<int:chat_id>")
def index(chat_id=None):
    chat = access.get_visible_chat(current_user, chat_id) if chat_id else None
    if chat is not None:
        chats.mark_read(current_user, chat)
    if request.headers.get("HX-Request") and chat is not None and \
            request.headers.get("HX-Target") == "chat-panel":
        return render_template("workspace/partials/_chat_panel.html", **_panel_context(chat))
    return render_template("workspace/index.html", waiting=waiting_chats(current_user),
                           mine=my_chats(current_user), **_panel_context(chat))


@bp.get("/workspace/panels/waiting")
def waiting_panel():
    return render_template("workspace/partials/_waiting_panel.html",
                           waiting=waiting_chats(current_user))


@bp.get("/workspace/panels/mine")
def mine_panel():
    return render_template("workspace/partials/_my_chats_panel.html", mine=my_chats(current_user))


@bp.get("/workspace/chats/<int:chat_id>/controls")
def controls(chat_id):
    chat = access.get_visible_chat(current_user, chat_id)
    return render_template("workspace/partials/_chat_controls.html", chat=chat)


@bp.post("/workspace/presence")
def presence():
    value = request.form.get("presence")
    if value not in PRESENCES:
        raise ServiceError(_("Unknown status."))
    users.set_presence(current_user, value)
    return render_template("workspace/partials/_presence_response.html",
                           waiting=waiting_chats(current_user))


@bp.post("/workspace/chats/<int:chat_id>/accept")
def accept(chat_id):
    chat = chats.accept_chat(current_user, chat_id)
    resp = render_template("workspace/partials/_chat_panel.html", **_panel_context(chat))
    return resp, 200, {"HX-Push-Url": url_for("workspace.index", chat_id=chat.id)}


@bp.post("/workspace/chats/<int:chat_id>/decline")
def decline(chat_id):
    access.get_visible_chat(current_user, chat_id)
    routing.decline(current_user, chat_id)
    return "", 204


@bp.post("/workspace/chats/<int:chat_id>/priority")
def priority(chat_id):
    """Supervisors move a waiting chat up (or back): higher priority goes out first."""
    raw = request.form.get("priority", "")
    if raw not in ("0", "1", "2"):
        raise ServiceError(_("Choose a priority: normal, high or urgent."))
    routing.set_priority(current_user, chat_id, int(raw))
    return "", 204


@bp.get("/workspace/chats/<int:chat_id>/transfer")
def transfer_form(chat_id):
    chat = access.get_visible_chat(current_user, chat_id)
    return render_template("workspace/partials/_transfer.html", chat=chat,
                           **transfer_choices(chat))


@bp.post("/workspace/chats/<int:chat_id>/transfer")
def transfer(chat_id):
    """To an operator ("user:<id>") or a queue ("queue:<id>"), with a comment."""
    target = request.form.get("target", "")
    kind, _sep, raw_id = target.partition(":")
    if kind not in ("user", "queue") or not raw_id.isdigit():
        raise ServiceError(_("Choose an operator or a queue to transfer the chat to."))
    routing.transfer(current_user, chat_id, comment=request.form.get("comment", ""),
                     **{("to_user_id" if kind == "user" else "to_queue_id"): int(raw_id)})
    chat = db.session.get(Chat, chat_id)
    if chat.assignee_id == current_user.id:
        return render_template("workspace/partials/_chat_panel.html", **_panel_context(chat))
    return render_template("workspace/partials/_chat_panel.html", chat=None, messages=[]), 200, {
        "HX-Push-Url": url_for("workspace.index")}


def transfer_choices(chat):
    """Operators of the chat's queue who could take it now (Active, with room), and the
    other queues."""
    from ...models import ChatQueue, User, queue_members
    members = list(db.session.scalars(
        db.select(User).join(queue_members, queue_members.c.user_id == User.id)
        .where(queue_members.c.queue_id == chat.queue_id, User.is_enabled.is_(True),
               User.id != (chat.assignee_id or 0)).order_by(User.name)))
    loads = routing.loads_for(u.id for u in members)
    operators = [{"user": u, "load": loads[u.id],
                  "can_take": u.presence == "active" and loads[u.id] + chat.weight <= u.max_load}
                 for u in members]
    queues = list(db.session.scalars(db.select(ChatQueue).order_by(ChatQueue.name)))
    return {"operators": operators, "queues": queues}


@bp.post("/workspace/chats/<int:chat_id>/messages")
def reply(chat_id):
    chat = access.get_visible_chat(current_user, chat_id)
    access.require_assignee(current_user, chat)
    upload = request.files.get("file")
    stored = None
    if upload is not None and upload.filename:
        stored = storage.save_upload(upload.read(), upload.filename)
    chats.add_reply(current_user, chat_id, request.form.get("text", ""), stored)
    return "", 204


@bp.post("/workspace/messages/<int:message_id>/resend")
def resend(message_id):
    chats.resend(current_user, message_id)
    return "", 204


@bp.post("/workspace/chats/<int:chat_id>/read")
def read(chat_id):
    chat = access.get_visible_chat(current_user, chat_id)
    chats.mark_read(current_user, chat)
    return "", 204


@bp.post("/workspace/chats/<int:chat_id>/close")
def close(chat_id):
    chat = chats.close_chat(current_user, chat_id)
    return render_template("workspace/partials/_chat_panel.html", **_panel_context(chat))


@bp.get("/workspace/messages/<int:message_id>")
def message(message_id):
    msg = db.session.get(Message, message_id) or abort(404)
    access.get_visible_chat(current_user, msg.chat_id)
    return render_template("workspace/partials/_message.html", message=msg)
