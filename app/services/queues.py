"""Chat queues: groups of operators that receive the chats of their channels."""
from __future__ import annotations

from flask_babel import gettext as _

from ..extensions import db
from ..models import ChatQueue, User
from .errors import ServiceError


def save_queue(queue: ChatQueue | None, name: str, member_ids: list[int]) -> ChatQueue:
    name = name.strip()
    clash = db.session.scalar(db.select(ChatQueue.id).where(
        db.func.lower(ChatQueue.name) == name.lower()))
    if clash and (queue is None or clash != queue.id):
        raise ServiceError(_("A queue with this name already exists."))
    if queue is None:
        queue = ChatQueue()
        db.session.add(queue)
    queue.name = name
    queue.members = list(db.session.scalars(db.select(User).where(User.id.in_(member_ids))))
    db.session.commit()
    return queue


def delete_queue(queue: ChatQueue) -> None:
    if queue.channels:
        raise ServiceError(_("Channels still use this queue; move them to another queue first."))
    from ..models import Chat
    if db.session.scalar(db.select(Chat.id).where(Chat.queue_id == queue.id).limit(1)):
        raise ServiceError(_("This queue cannot be deleted: it has chats, and they keep it for their history."))
    db.session.delete(queue)
    db.session.commit()
