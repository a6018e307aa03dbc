"""Re-enqueue whatever was committed but never got its job (Redis was down, a worker
died mid-job): unprocessed inbound events, pending outbound messages, closed chats
without statistics."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from ..extensions import db
from ..jobs import enqueue
from ..models import Chat, ChatStats, InboundEvent, Message, utcnow
from .inbound import unprocessed_events

log = logging.getLogger(__name__)


def sweep() -> dict:
    age = current_app.config["SWEEP_AFTER_SECONDS"]
    cutoff = utcnow() - timedelta(seconds=age)
    events = unprocessed_events(age)
    channel_ids = sorted(set(db.session.scalars(db.select(InboundEvent.channel_id).where(
        InboundEvent.id.in_(events))))) if events else []
    for channel_id in channel_ids:
        # Straight to the queue, past the coalescing flag: that flag may belong to a
        # job that was lost with Redis. A second drain is harmless (it takes a lock).
        enqueue("app.jobs.inbound.drain_channel", channel_id, queue="inbound")
    pending = list(db.session.scalars(db.select(Message.id).where(
        Message.direction == "out", Message.status == "pending",
        Message.status_changed_at < cutoff).limit(500)))
    for message_id in pending:
        enqueue("app.jobs.outbound.deliver", message_id, queue="outbound",
                job_id=f"deliver-{message_id}", skip_if_pending=True)
    no_stats = list(db.session.scalars(db.select(Chat.id).outerjoin(
        ChatStats, ChatStats.chat_id == Chat.id).where(
        Chat.status == "closed", Chat.closed_at < cutoff, ChatStats.chat_id.is_(None)).limit(500)))
    for chat_id in no_stats:
        enqueue("app.jobs.stats.compute", chat_id, queue="stats", job_id=f"stats-{chat_id}",
                skip_if_pending=True)
    db.session.rollback()
    from . import routing
    from .health import check_due_channels
    checked = check_due_channels()
    timers = routing.run_timers()
    # A safety net: anything still waiting while someone could take it is handed out
    # (a routing job lost with Redis, a capacity freed by a crashed request).
    # Without the work-saving lock: a worker that died holding it must not stop this.
    routed = len(routing.route(use_lock=False))
    found = {"events": len(events), "messages": len(pending), "stats": len(no_stats),
             "health_checks": checked, "routed": routed,
             **{f"timer_{k}": v for k, v in timers.items()}}
    if any(found.values()):
        log.info("sweeper re-enqueued %s", found)
    return found
