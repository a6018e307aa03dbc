"""Who may see and do what. Operators see only chats of their queues; supervisors and
admins see everything; only the assignee replies."""
from __future__ import annotations

from ..extensions import db
from ..models import Chat, ChatQueue, User, queue_members
from .errors import NotAllowed, NotFound
from flask_babel import gettext as _


def queue_ids_for(user: User) -> list[int]:
    if user.sees_all_queues:
        return list(db.session.scalars(db.select(ChatQueue.id)))
    return list(db.session.scalars(
        db.select(queue_members.c.queue_id).where(queue_members.c.user_id == user.id)))


def visible_chats(user: User):
    """A select() of the chats this user may see."""
    query = db.select(Chat)
    if not user.sees_all_queues:
        query = query.where(Chat.queue_id.in_(
            db.select(queue_members.c.queue_id).where(queue_members.c.user_id == user.id)))
    return query


def can_see_chat(user: User, chat: Chat) -> bool:
    if user.sees_all_queues:
        return True
    return db.session.scalar(db.select(queue_members.c.queue_id).where(
        queue_members.c.user_id == user.id, queue_members.c.queue_id == chat.queue_id)) is not None


def get_visible_chat(user: User, chat_id: int) -> Chat:
    """The chat, if this user may see it. Unknown and forbidden look the same (404) so
    that ids of other queues' chats do not leak."""
    chat = db.session.get(Chat, chat_id)
    if chat is None or not can_see_chat(user, chat):
        raise NotFound(_("This chat does not exist or is not in your queues."))
    return chat


def require_assignee(user: User, chat: Chat) -> None:
    if not chat.is_open:
        raise NotAllowed(_("This chat is closed."), status=409)
    if chat.assignee_id != user.id:
        raise NotAllowed(_("Only the operator who accepted this chat can reply."))
