"""Outbound delivery, run by the worker: pending -> sent | failed (with a reason)."""
from __future__ import annotations

import logging

from flask_babel import gettext as _

from ..channels import ChannelError, OutboundAttachment, OutboundMessage
from ..jobs import enqueue
from ..extensions import db
from ..models import Message, utcnow
from . import live, public_files, storage, widget_view
from .channels import adapter_for

log = logging.getLogger(__name__)


MAX_DELIVERY_ATTEMPTS = 6


def _backoff(attempt: int) -> float:
    return min(300.0, 5.0 * 2 ** (attempt - 1))  # 5, 10, 20, 40, 80 s


def deliver_message(message_id: int) -> None:
    """pending -> sent, or failed with the provider's reason. Rate limits (retry_after)
    and outages are retried with backoff; the message stays pending meanwhile."""
    message = db.session.get(Message, message_id)
    if message is None or message.status != "pending":
        return  # already delivered (a repeated job) or resent under a new job
    chat = message.chat
    channel = chat.channel
    adapter = adapter_for(channel)
    outbound = OutboundMessage(
        message_id=message.id, chat_id=chat.id, recipient_id=chat.identity.external_id,
        text=message.text, payload=widget_view.message_json(message, channel) | {"status": "sent"},
        attachments=[OutboundAttachment(filename=a.filename, mime=a.mime, size=a.size,
                                        url=public_files.url_for_attachment(a, channel),
                                        is_image=a.is_image, path=str(storage.path_for(a.storage_key)))
                     for a in message.attachments])
    message.delivery_attempts = (message.delivery_attempts or 0) + 1
    retry_in = None
    try:
        result = adapter.send(outbound)
    except ChannelError as exc:
        if not exc.permanent and message.delivery_attempts < MAX_DELIVERY_ATTEMPTS:
            retry_in = max(exc.retry_after, _backoff(message.delivery_attempts))
            message.error = exc.reason
            log.info("message %s: %s; retrying in %.0f s", message.id, exc.reason, retry_in)
        else:
            message.status = "failed"
            message.error = exc.reason
            if exc.recipient_unreachable:
                chat.identity.is_reachable = False
            log.warning("message %s failed: %s", message.id, exc.reason)
    except Exception:  # noqa: BLE001 - an adapter bug must not leave the message pending forever
        log.exception("message %s: unexpected delivery error", message.id)
        message.status = "failed"
        message.error = _("Could not deliver the message because of an internal error.")
    else:
        message.status = result.status
        message.external_id = result.external_id
        message.error = None
    message.status_changed_at = utcnow()
    db.session.commit()
    if retry_in is not None:
        enqueue("app.jobs.outbound.deliver", message.id, queue="outbound", delay=retry_in)
    else:
        live.message_updated(message)


STATUS_ORDER = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}


def record_receipt(chat_id: int, up_to_message_id: int, status: str) -> int:
    """The customer's client reports delivered/read: move outbound messages forward
    (never backwards). Returns how many changed."""
    messages = list(db.session.scalars(db.select(Message).where(
        Message.chat_id == chat_id, Message.direction == "out", Message.id <= up_to_message_id,
        Message.status.in_(("sent", "delivered")))))
    changed = [m for m in messages if STATUS_ORDER[m.status] < STATUS_ORDER[status]]
    now = utcnow()
    for m in changed:
        m.status = status
        m.status_changed_at = now
    db.session.commit()
    for m in changed:
        live.message_updated(m)
    return len(changed)
