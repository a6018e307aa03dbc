"""Inbound: store the raw event durably, then (in the worker) turn it into contact, chat
and message. Nothing a customer sent is lost: the event row exists before any job."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ClauseElement

from ..channels import ChannelError, InboundMessage, InboundReceipt, InboundStatus
from ..extensions import db
from .. import jobs
from ..models import Attachment, Channel, Chat, ContactIdentity, InboundEvent, Message, utcnow
from . import channels as channel_service
from . import chats, contacts, live, routing, storage
from .delivery import STATUS_ORDER

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def store_event(channel, external_id: str, payload: dict,
                sender_ref: str | None = None) -> tuple[InboundEvent, bool]:
    """Store a raw event; a repeat of the same (channel, external id) is a no-op.
    Returns (event, created)."""
    event = InboundEvent(channel_id=channel.id, external_id=external_id, payload=payload,
                         sender_ref=sender_ref)
    db.session.add(event)
    try:
        _commit_keeping_state()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(db.select(InboundEvent).where(
            InboundEvent.channel_id == channel.id, InboundEvent.external_id == external_id))
        return existing, False
    schedule_drain(channel.id)
    return event, True


def schedule_drain(channel_id: int) -> bool:
    return jobs.enqueue_coalesced("app.jobs.inbound.drain_channel", f"inbound:{channel_id}",
                                  channel_id, queue="inbound")


# A batch holds SQLite's write lock: keep it short so the web's inserts (customers'
# messages) never wait long, and the first message of a burst is published quickly.
BATCH_SIZE = 25
BATCH_SECONDS = 0.03


def drain_channel(channel_id: int) -> int:
    """Process the channel's waiting events in arrival order, a batch per transaction.

    One worker at a time drains a channel (a Redis lock), so messages of one customer
    are never processed out of order or twice. After releasing the lock we look once
    more: an event stored while we were finishing is never left behind.
    """
    jobs.coalesced_job_started(f"inbound:{channel_id}")
    done = 0
    failed: set[int] = set()
    while True:
        lock = jobs.try_lock(f"inbound:{channel_id}")
        if lock is None:
            return done  # another worker is draining; it will see our events
        try:
            while True:
                count = _process_batch(channel_id, failed)
                if not count:
                    break
                done += count
                lock.extend(60, replace_ttl=True)
        finally:
            lock.release()
        if not _waiting_ids(channel_id, failed, limit=1):
            return done


def _waiting_ids(channel_id: int, exclude: set[int], limit: int) -> list[int]:
    query = db.select(InboundEvent.id).where(
        InboundEvent.channel_id == channel_id, InboundEvent.processed_at.is_(None),
        InboundEvent.attempts < MAX_ATTEMPTS).order_by(InboundEvent.id).limit(limit)
    if exclude:
        query = query.where(InboundEvent.id.not_in(exclude))
    return list(db.session.scalars(query))


def _process_batch(channel_id: int, failed: set[int]) -> int:
    ids = _waiting_ids(channel_id, failed, BATCH_SIZE)
    if not ids:
        return 0
    events = list(db.session.scalars(db.select(InboundEvent).where(InboundEvent.id.in_(ids))
                                     .order_by(InboundEvent.id)))
    channel = events[0].channel
    adapter = channel_service.adapter_for(channel)
    try:
        # Fast path: as many events as fit in the time budget, in one transaction.
        cache: dict = {}
        results, done = [], 0
        started = time.monotonic()
        for event in events:
            results.extend(_process_one(channel, adapter, event, cache))
            done += 1
            if time.monotonic() - started > BATCH_SECONDS:
                break
        _commit_keeping_state()
    except Exception:  # noqa: BLE001 - redo one by one to isolate the bad event
        db.session.rollback()
        results = _process_isolated(channel_id, ids, failed)
        done = len(ids)
    _publish(results)
    return done


@dataclass
class _NewIdentity:
    """A sender we had not seen: their avatar is fetched after commit, off this path."""

    identity: ContactIdentity


@dataclass
class _Updated:
    """One of our messages whose status a provider's receipt moved (published after commit)."""

    message: Message


def _publish(results: list) -> None:
    for r in results:
        if isinstance(r, _NewIdentity):
            jobs.enqueue("app.jobs.contacts.fetch_avatar", r.identity.id,
                         job_id=f"avatar-{r.identity.id}")
    received = [r for r in results if not isinstance(r, (_Updated, _NewIdentity))]
    live.inbound_processed(received)
    new_chats = [m.chat for m, is_new in received if is_new]
    waiting = {chat.queue_id for chat in new_chats if chat.status == "queued"}
    if waiting:
        routing.route(waiting)  # the auto modes hand new chats out one operator at a time
    for chat_id in [chat.id for chat in new_chats]:
        chats.send_away_reply(chat_id)  # no-op while the team is there
    updated = {r.message.id: r.message for r in results if isinstance(r, _Updated)}
    for message in updated.values():
        live.message_updated(message)


def _process_isolated(channel_id: int, ids: list[int], failed: set[int]) -> list:
    """One transaction per event. An event that fails twice (the second try sees what a
    concurrent writer committed) is recorded as failed and left for the sweeper."""
    results = []
    for event_id in ids:
        for attempt in (1, 2):
            event = db.session.get(InboundEvent, event_id)
            if event is None or event.processed_at is not None:
                break
            try:
                channel = event.channel
                found = _process_one(channel, channel_service.adapter_for(channel), event, {})
                _commit_keeping_state()
                results.extend(found)
                break
            except Exception as exc:  # noqa: BLE001 - one bad event must not block the rest
                db.session.rollback()
                if attempt == 2:
                    failed.add(event_id)
                    _record_failure(event_id, exc)
    return results


def _record_failure(event_id: int, exc: Exception) -> None:
    event = db.session.get(InboundEvent, event_id)
    event.attempts += 1
    event.error = f"{type(exc).__name__}: {exc}"[:2000]
    db.session.commit()
    log.error("inbound event %s failed (attempt %s): %s", event_id, event.attempts, event.error,
              exc_info=exc)


def _commit_keeping_state() -> None:
    """Commit without expiring what we just wrote: the live fragments rendered next
    read the same rows, and reloading each one would double the work per message."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _process_one(channel: Channel, adapter, event: InboundEvent, cache: dict):
    items = adapter.parse(event.payload)
    for item in items:
        if isinstance(item, InboundMessage):
            _fetch_media(adapter, item)
    # No autoflush: whatever this batch created is in `cache`, so lookups need not
    # flush pending rows first (a flush per lookup was half the cost of a message).
    # Nothing is written before the commit, so downloads above never hold SQLite's lock.
    results = []
    with db.session.no_autoflush:
        for item in items:
            if isinstance(item, InboundStatus):
                identity, identity_is_new = _set_reachable(channel, item, cache)
                if identity_is_new and adapter.has_avatars:
                    results.append(_NewIdentity(identity))
            elif isinstance(item, InboundReceipt):
                results.extend(_Updated(m) for m in _apply_receipt(channel, item))
            else:
                message, chat_is_new, identity_is_new = _receive(channel, event, item, cache)
                results.append((message, chat_is_new))
                if identity_is_new and adapter.has_avatars:
                    results.append(_NewIdentity(message.chat.identity))
    event.processed_at = utcnow()
    event.error = None
    channel.last_event_at = event.received_at
    return results


def _fetch_media(adapter, item: InboundMessage) -> None:
    """Provider links expire: media are copied into our storage when the message arrives.
    What cannot be kept (too large, a refused type) is noted in the message instead of
    blocking it; a provider outage raises, and the event is retried."""
    kept = []
    for att in item.attachments:
        if att.storage_key is not None or att.media_ref is None:
            kept.append(att)
            continue
        try:
            data = adapter.download(att.media_ref)
            stored = storage.save_upload(data, att.filename, max_size=adapter.max_file_size)
        except ChannelError as exc:
            if not exc.permanent:
                raise
            item.text = (item.text + "\n" if item.text else "") + f"[{att.filename}: {exc.reason}]"
            continue
        except storage.UploadRejected as exc:
            item.text = (item.text + "\n" if item.text else "") + f"[{att.filename}: {exc.message}]"
            continue
        att.storage_key, att.mime, att.size = stored.storage_key, stored.mime, stored.size
        att.is_image, att.width, att.height = stored.is_image, stored.width, stored.height
        kept.append(att)
    item.attachments = kept


def _set_reachable(channel: Channel, item: InboundStatus, cache: dict):
    """The customer blocked the bot / unsubscribed, or came back (subscribing may be the
    first we hear of them). Returns (identity, whether it is new)."""
    identity = cache.get(("identity", item.sender_id))
    created = False
    if identity is None:
        identity, created = contacts.find_or_create_identity(
            channel, item.sender_id, item.sender_name, item.sender_details)
        cache[("identity", item.sender_id)] = identity
    identity.is_reachable = item.reachable
    return identity, created


def _apply_receipt(channel: Channel, item: InboundReceipt) -> list[Message]:
    """The provider reports delivered/read/failed for a message we sent. The rules of
    delivery.record_receipt: delivered and read move the chat's outbound messages up to
    this one forward, never backwards; failed applies only to a message still "sent"
    (the provider accepted it, the customer's device did not)."""
    query = (db.select(Message).join(Chat, Chat.id == Message.chat_id)
             .where(Chat.channel_id == channel.id, Message.direction == "out",
                    Message.external_id == item.message_external_id))
    if item.sender_id:
        query = query.join(ContactIdentity, ContactIdentity.id == Chat.identity_id).where(
            ContactIdentity.external_id == item.sender_id)
    message = db.session.scalar(query.order_by(Message.id.desc()).limit(1))
    if message is None:
        log.info("channel %s: %s receipt for unknown message %s", channel.id, item.status,
                 item.message_external_id)
        return []
    now = utcnow()
    if item.status == "failed":
        if message.status != "sent":
            return []
        message.status, message.status_changed_at = "failed", now
        message.error = item.reason or "The provider reported that the message failed."
        return [message]
    if item.status not in STATUS_ORDER:
        return []
    earlier = db.session.scalars(db.select(Message).where(
        Message.chat_id == message.chat_id, Message.direction == "out",
        Message.id <= message.id, Message.status.in_(("sent", "delivered"))))
    changed = [m for m in earlier if STATUS_ORDER.get(m.status, 99) < STATUS_ORDER[item.status]]
    for m in changed:
        m.status, m.status_changed_at = item.status, now
    return changed


def _receive(channel: Channel, event: InboundEvent, item: InboundMessage, cache: dict):
    """Store one inbound message. `cache` remembers identities and open chats within a
    batch, so a burst from one customer costs one lookup, not one per message."""
    identity = cache.get(("identity", item.sender_id))
    identity_is_new = False
    if identity is None:
        identity, identity_is_new = contacts.find_or_create_identity(
            channel, item.sender_id, item.sender_name, item.sender_details)
        cache[("identity", item.sender_id)] = identity
    chat = cache.get(("chat", identity))
    chat_is_new = False
    if chat is None or not chat.is_open:
        chat, chat_is_new = chats.find_or_open_chat(channel, identity)
        cache[("chat", identity)] = chat
        if chat_is_new:
            active_key = ("someone_active", channel.queue_id)
            if active_key not in cache:
                cache[active_key] = chats.queue_has_active_member(channel.queue_id)
            chats.offer_if_possible(chat, cache[active_key])
    message = Message(chat=chat, direction="in", text=item.text or "", status="received",
                      external_id=item.external_id, client_id=item.client_id,
                      inbound_event_id=event.id, sent_at=item.sent_at, attachments=[])
    db.session.add(message)
    for att in item.attachments:
        if att.storage_key is None:
            continue  # provider media are downloaded by the messenger adapters (later)
        message.attachments.append(Attachment(
            filename=att.filename, mime=att.mime, size=att.size, storage_key=att.storage_key,
            is_image=att.is_image, width=att.width, height=att.height))
    chat.last_message_at = item.sent_at
    now = utcnow()
    chat.last_inbound_at = now
    # The unanswered-chat timer starts with their first unanswered line; the unread count
    # goes up by one. Both as SQL on a stored chat, so an operator's reply or "read"
    # committed meanwhile is not overwritten with what this batch read.
    if chat.id is None:
        chat.awaiting_since = now
    elif not isinstance(chat.awaiting_since, ClauseElement):
        chat.awaiting_since = func.coalesce(Chat.awaiting_since, now)
    chat.last_message_preview = chats.preview_of(item.text, item.attachments[0]
                                              if item.attachments else None)
    if chat.status == "active" and chat.id is not None:
        chat.unread_count = Chat.unread_count + 1
    return message, chat_is_new, identity_is_new


def pending_events_for(channel, sender_ref: str) -> list[InboundEvent]:
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

