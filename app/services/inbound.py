"""Inbound: store the raw event durably, then (in the worker) turn it into contact, chat
and message. Nothing a customer sent is lost: the event row exists before any job."""
from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from ..channels import InboundMessage
from ..extensions import db
from ..jobs import enqueue
from ..models import Attachment, Channel, Chat, InboundEvent, Message, utcnow
from . import channels as channel_service
from . import chats, contacts, live

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def store_event(channel: Channel, external_id: str, payload: dict,
                sender_ref: str | None = None) -> tuple[InboundEvent, bool]:
    """Store a raw event; a repeat of the same (channel, external id) is a no-op.
    Returns (event, created)."""
    event = InboundEvent(channel_id=channel.id, external_id=external_id, payload=payload,
                         sender_ref=sender_ref)
    db.session.add(event)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(db.select(InboundEvent).where(
            InboundEvent.channel_id == channel.id, InboundEvent.external_id == external_id))
        return existing, False
    enqueue_event(event.id)
    return event, True


def enqueue_event(event_id: int) -> bool:
    return enqueue("app.jobs.inbound.process_event", event_id, queue="inbound",
                   job_id=f"inbound-{event_id}", skip_if_pending=True)


def process_event(event_id: int) -> None:
    """Idempotent: an event already processed is skipped; a half-done one rolls back."""
    event = db.session.get(InboundEvent, event_id)
    if event is None or event.processed_at is not None:
        return
    channel = event.channel
    adapter = channel_service.adapter_for(channel)
    try:
        parsed = adapter.parse(event.payload)
        results = [_receive(channel, event, item) for item in parsed]
        event.processed_at = utcnow()
        event.error = None
        channel.last_event_at = event.received_at
        db.session.commit()
    except IntegrityError:
        # Another worker processed the same event at the same moment.
        db.session.rollback()
        log.info("inbound event %s was processed concurrently", event_id)
        return
    except Exception as exc:
        db.session.rollback()
        event = db.session.get(InboundEvent, event_id)
        event.attempts += 1
        event.error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        log.exception("inbound event %s failed (attempt %s)", event_id, event.attempts)
        raise
    for message, chat_is_new in results:
        if chat_is_new:
            live.chat_waiting(message.chat, new=True)
        live.message_added(message)


def _receive(channel: Channel, event: InboundEvent, item: InboundMessage):
    identity, _created = contacts.find_or_create_identity(
        channel, item.sender_id, item.sender_name, item.sender_details)
    chat, chat_is_new = chats.find_or_open_chat(channel, identity)
    if chat_is_new:
        chats.offer_if_possible(chat)
    message = Message(chat_id=chat.id, direction="in", text=item.text or "",
                      status="received", external_id=item.external_id,
                      client_id=item.client_id, inbound_event_id=event.id,
                      sent_at=item.sent_at)
    db.session.add(message)
    for att in item.attachments:
        if att.storage_key is None:
            continue  # provider media are downloaded by the messenger adapters (later)
        db.session.add(Attachment(message=message, filename=att.filename, mime=att.mime,
                                  size=att.size, storage_key=att.storage_key,
                                  is_image=att.is_image, width=att.width, height=att.height))
    chat.last_message_at = item.sent_at
    chat.last_message_preview = chats.preview(item.text, item.attachments[0]
                                              if item.attachments else None)
    if chat.status == "active":
        chat.unread_count = (chat.unread_count or 0) + 1
    db.session.flush()
    return message, chat_is_new


def pending_events_for(channel: Channel, sender_ref: str) -> list[InboundEvent]:
    """Events accepted from this sender but not processed yet (the widget shows them)."""
    return list(db.session.scalars(db.select(InboundEvent).where(
        InboundEvent.channel_id == channel.id, InboundEvent.sender_ref == sender_ref,
        InboundEvent.processed_at.is_(None)).order_by(InboundEvent.id)))


def unprocessed_events(older_than_seconds: float, limit: int = 500) -> list[int]:
    from datetime import timedelta
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    return list(db.session.scalars(db.select(InboundEvent.id).where(
        InboundEvent.processed_at.is_(None), InboundEvent.received_at < cutoff,
        InboundEvent.attempts < MAX_ATTEMPTS).order_by(InboundEvent.id).limit(limit)))


__all__ = ["store_event", "process_event", "pending_events_for", "Chat"]
