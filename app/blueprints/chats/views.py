"""All chats the user may see, with filters, and the chat card."""
from datetime import datetime, time, timedelta, timezone

from flask import render_template, request
from flask_login import current_user, login_required

from ...extensions import db
from ...models import Channel, Chat, ChatQueue, ChatStats, Contact, Message, User
from ...services import access
from . import bp

PAGE_SIZE = 25


def _date(value: str | None):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date() if value else None
    except ValueError:
        return None


@bp.get("/chats")
@login_required
def index():
    args = request.args
    query = access.visible_chats(current_user)
    status = args.get("status", "")
    if status == "waiting":
        query = query.where(Chat.status.in_(("queued", "offered")))
    elif status in ("active", "closed"):
        query = query.where(Chat.status == status)
    for key, column in (("queue", Chat.queue_id), ("channel", Chat.channel_id),
                        ("operator", Chat.assignee_id)):
        value = args.get(key, type=int)
        if value:
            query = query.where(column == value)
    date_from, date_to = _date(args.get("from")), _date(args.get("to"))
    if date_from:
        query = query.where(Chat.created_at >= datetime.combine(date_from, time.min, timezone.utc))
    if date_to:
        query = query.where(Chat.created_at < datetime.combine(date_to + timedelta(days=1), time.min,
                                                               timezone.utc))
    text = (args.get("q") or "").strip()
    if text:
        like = f"%{text}%"
        query = query.where(db.or_(
            Chat.contact_id.in_(db.select(Contact.id).where(Contact.name.ilike(like))),
            Chat.id.in_(db.select(Message.chat_id).where(Message.text.ilike(like)))))
    page = db.paginate(query.order_by(Chat.created_at.desc()), per_page=PAGE_SIZE,
                       error_out=False)
    queue_ids = access.queue_ids_for(current_user)
    filters = {
        "queues": list(db.session.scalars(db.select(ChatQueue).where(ChatQueue.id.in_(queue_ids))
                                          .order_by(ChatQueue.name))),
        "channels": list(db.session.scalars(db.select(Channel).where(
            Channel.queue_id.in_(queue_ids)).order_by(Channel.name))),
        "operators": list(db.session.scalars(db.select(User).order_by(User.name))),
    }
    template = "chats/_results.html" if request.headers.get("HX-Request") and \
        request.headers.get("HX-Target") == "chat-results" else "chats/index.html"
    return render_template(template, page=page, args=args, **filters)


@bp.get("/chats/<int:chat_id>")
@login_required
def card(chat_id):
    chat = access.get_visible_chat(current_user, chat_id)
    stats = db.session.get(ChatStats, chat.id)
    return render_template("chats/card.html", chat=chat, messages=list(chat.messages),
                           events=list(chat.events), stats=stats)
