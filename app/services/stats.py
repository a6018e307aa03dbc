"""Post-chat statistics: one row per closed chat."""
from __future__ import annotations

from ..extensions import db
from ..models import Attachment, Chat, ChatStats, Message, utcnow


def _seconds(start, end):
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def compute_chat_stats(chat_id: int) -> ChatStats | None:
    """Safe to run twice: the row is recomputed from the chat and its messages.

    queue wait: customer's first message -> an operator accepted (or close, if nobody did);
    time to accept: offered to operators -> accepted; first response: first customer
    message -> first operator message; handle time: accepted -> closed.
    """
    chat = db.session.get(Chat, chat_id)
    if chat is None or chat.closed_at is None:
        return None
    counts = dict(db.session.execute(
        db.select(Message.direction, db.func.count(Message.id))
        .where(Message.chat_id == chat.id).group_by(Message.direction)).all())
    att_counts = dict(db.session.execute(
        db.select(Message.direction, db.func.count(Attachment.id))
        .join(Attachment, Attachment.message_id == Message.id)
        .where(Message.chat_id == chat.id).group_by(Message.direction)).all())
    first_in = db.session.scalar(db.select(db.func.min(Message.sent_at)).where(
        Message.chat_id == chat.id, Message.direction == "in")) or chat.created_at
    first_out = db.session.scalar(db.select(db.func.min(Message.sent_at)).where(
        Message.chat_id == chat.id, Message.direction == "out"))
    stats = db.session.get(ChatStats, chat.id) or ChatStats(chat_id=chat.id)
    stats.queue_wait_seconds = _seconds(chat.created_at, chat.accepted_at or chat.closed_at)
    stats.time_to_accept_seconds = _seconds(chat.offered_at, chat.accepted_at)
    stats.first_response_seconds = _seconds(first_in, first_out)
    stats.handle_seconds = _seconds(chat.accepted_at, chat.closed_at)
    stats.duration_seconds = _seconds(chat.created_at, chat.closed_at)
    stats.messages_in = counts.get("in", 0)
    stats.messages_out = counts.get("out", 0)
    stats.attachments_in = att_counts.get("in", 0)
    stats.attachments_out = att_counts.get("out", 0)
    stats.computed_at = utcnow()
    db.session.add(stats)
    db.session.commit()
    return stats
