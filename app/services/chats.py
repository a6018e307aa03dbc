"""The chat lifecycle: open, offer, accept, reply, read, close."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..channels import adapter_class
from ..jobs import enqueue
from ..models import (Attachment, Channel, Chat, ChatEvent, ContactIdentity, Message, User,
                      utcnow)
from . import access, live, routing, storage
from . import channels as channel_service
from .errors import Conflict, NotAllowed, ServiceError
from .storage import StoredFile

log = logging.getLogger(__name__)

MAX_REPLY_LENGTH = 10000


def find_or_open_chat(channel: Channel, identity: ContactIdentity) -> tuple[Chat, bool]:
    """The identity's open chat, or a new one in the channel's queue.

    The unique `open_identity` makes this safe with several workers: of two transactions
    opening a chat for one identity, one fails at commit and its caller retries, finding
    the winner's chat.
    """
    chat = None
    if identity.id is not None:
        chat = db.session.scalar(db.select(Chat).where(Chat.open_identity_id == identity.id))
    if chat is not None:
        return chat, False
    # Relationships set as objects: nothing needs a flush, and the live fragments
    # rendered after commit read them without a query each.
    chat = Chat(channel=channel, queue=channel.queue, contact=identity.contact,
                identity=identity, open_identity=identity, status="queued",
                weight=channel.chat_weight or 1, routing_skip=[])
    db.session.add(chat)
    db.session.add(ChatEvent(chat=chat, kind="created", details={"queue_id": channel.queue_id}))
    return chat, True


def offer_if_possible(chat: Chat, someone_active: bool | None = None) -> None:
    """Manual mode, inside the inbound transaction: the chat is offered to every Active
    member of its queue at once. The auto modes hand chats out after commit
    (routing.route), one operator at a time."""
    if chat.status != "queued" or chat.queue.routing_mode != "manual":
        return
    if someone_active is None:
        someone_active = queue_has_active_member(chat.queue_id or chat.queue.id)
    if someone_active:
        chat.status = "offered"
        chat.offered_at = utcnow()
        db.session.add(ChatEvent(chat=chat, kind="offered",
                                 details={"mode": "manual", "reason": "everyone"}))


def queue_has_active_member(queue_id: int) -> bool:
    return bool(routing.active_member_ids(queue_id))


def accept_chat(user: User, chat_id: int) -> Chat:
    """One conditional UPDATE (routing.accept): of two operators clicking together exactly
    one wins, and nobody takes more than their load."""
    chat = access.get_visible_chat(user, chat_id)
    routing.accept(user, chat)
    db.session.add(ChatEvent(chat_id=chat.id, kind="accepted", actor_id=user.id))
    db.session.commit()
    db.session.refresh(chat)
    log.info("chat %s accepted by user %s", chat.id, user.id)
    live.chat_taken(chat)
    return chat


def add_reply(user: User, chat_id: int, text: str, stored: StoredFile | None = None) -> Message:
    """Store the operator's message as pending; the worker delivers it."""
    chat = access.get_visible_chat(user, chat_id)
    access.require_assignee(user, chat)
    text = (text or "").strip()
    if not text and stored is None:
        raise ServiceError(_("Write a message or attach a file."))
    if len(text) > MAX_REPLY_LENGTH:
        raise ServiceError(_("The message is too long (at most %(n)s characters).",
                             n=MAX_REPLY_LENGTH))
    refusal = channel_service.adapter_for(chat.channel).check_outbound(text, stored)
    if refusal:
        if stored is not None:
            storage.discard(stored.storage_key)
        raise ServiceError(refusal)
    now = utcnow()
    message = Message(chat_id=chat.id, direction="out", author_id=user.id, text=text,
                      status="pending", sent_at=now)
    db.session.add(message)
    if stored is not None:
        db.session.add(Attachment(message=message, **stored.as_dict()))
    if chat.first_response_at is None:
        chat.first_response_at = now
    chat.awaiting_since = None  # answered: the unanswered-chat timer stops
    chat.last_message_at = now
    chat.last_message_preview = preview_of(text, stored)
    db.session.commit()
    _send(message)
    return message


def resend(user: User, message_id: int) -> Message:
    message = db.session.get(Message, message_id)
    if message is None or message.direction != "out":
        raise ServiceError(_("There is no such message."), status=404)
    chat = access.get_visible_chat(user, message.chat_id)
    access.require_assignee(user, chat)
    if message.status != "failed":
        raise Conflict(_("Only a failed message can be sent again."))
    message.status = "pending"
    message.error = None
    message.status_changed_at = utcnow()
    db.session.commit()
    enqueue("app.jobs.outbound.deliver", message.id, queue="outbound")
    live.message_updated(message)
    return message


def mark_read(user: User, chat: Chat) -> None:
    if chat.assignee_id != user.id or not chat.unread_count:
        return
    last_id = db.session.scalar(db.select(db.func.max(Message.id)).where(
        Message.chat_id == chat.id)) or 0
    chat.operator_read_message_id = last_id
    chat.unread_count = 0
    db.session.commit()
    live.chat_read(chat)


def close_chat(user: User, chat_id: int) -> Chat:
    chat = access.get_visible_chat(user, chat_id)
    if not chat.is_open:
        raise Conflict(_("This chat is already closed."))
    if chat.assignee_id != user.id and not user.sees_all_queues:
        raise NotAllowed(_("Only the operator of this chat or a supervisor can close it."))
    previous_assignee = chat.assignee_id
    # Only the chat as the closer saw it: if a supervisor moved it meanwhile, say so.
    held = _close_if(chat, routing.same(Chat.assignee_id, previous_assignee),
                     closed_by_id=user.id, now=utcnow())
    if held is None:
        db.session.rollback()
        db.session.refresh(chat)
        if chat.is_open:
            raise Conflict(_("This chat changed meanwhile; look again."))
        raise Conflict(_("This chat is already closed."))
    db.session.add(ChatEvent(chat_id=chat.id, kind="closed", actor_id=user.id))
    db.session.commit()
    _after_close(chat, held)
    return chat


def _close_if(chat: Chat, *conditions, closed_by_id, now) -> tuple | None:
    """Close the chat if it is still open and `conditions` hold. Returns who held it
    (assignee, assignee or the operator it was offered to) for `_after_close`, or None.
    The caller adds its event and commits."""
    held = (chat.assignee_id, chat.assignee_id or chat.offered_to_id)
    result = db.session.execute(
        update(Chat).where(Chat.id == chat.id, Chat.status != "closed", *conditions)
        .values(status="closed", closed_at=now, closed_by_id=closed_by_id,
                open_identity_id=None, offered_to_id=None, offer_expires_at=None)
        .execution_options(synchronize_session=False))
    return held if result.rowcount == 1 else None


def _after_close(chat: Chat, held: tuple) -> None:
    """After the commit: statistics, the live lists, and the freed operator's queues."""
    previous_assignee, previous_holder = held
    db.session.refresh(chat)
    enqueue("app.jobs.stats.compute", chat.id, queue="stats", job_id=f"stats-{chat.id}")
    live.chat_closed(chat, previous_assignee)
    if previous_holder:
        enqueue_routing_for(previous_holder)  # their capacity is free again


def enqueue_routing_for(user_id: int) -> None:
    """Route the queues of an operator whose load went down."""
    queue_ids = sorted(routing.queue_ids_of([user_id]))
    if queue_ids:
        enqueue("app.jobs.routing.route", queue_ids)


def close_inactive(chat_id: int, minutes: int, closing_message: str, now=None) -> bool:
    """The customer has written nothing for `minutes`: the chat closes itself, with the
    queue's closing message if there is one."""
    chat = db.session.get(Chat, chat_id)
    if chat is None or not chat.is_open:
        return False
    now = now or utcnow()
    held = _close_if(chat, db.func.coalesce(Chat.last_inbound_at, Chat.created_at)
                     <= now - timedelta(minutes=minutes), closed_by_id=None, now=now)
    if held is None:
        db.session.rollback()
        return False
    message = _system_reply(chat, closing_message, now)
    db.session.add(ChatEvent(chat_id=chat.id, kind="auto_closed",
                             details={"reason": "inactive", "minutes": minutes}))
    db.session.commit()
    if message is not None:
        _send(message)
    _after_close(chat, held)
    return True


def _system_reply(chat: Chat, text: str, now) -> Message | None:
    """A message from the team that no operator wrote (closing, away); None if empty."""
    text = (text or "").strip()
    if not text:
        return None
    message = Message(chat_id=chat.id, direction="out", author_id=None, text=text,
                      status="pending", sent_at=now)
    db.session.add(message)
    return message


def _send(message: Message) -> None:
    """After the commit: the worker delivers it, and the console shows it."""
    enqueue("app.jobs.outbound.deliver", message.id, queue="outbound",
            job_id=f"deliver-{message.id}")
    live.message_added(message)


def preview_of(text: str, stored) -> str:
    if text:
        return " ".join(text.split())[:190]
    if stored is not None:
        return stored.filename[:190]
    return ""


def start_refusal(user: User, identity: ContactIdentity) -> str | None:
    """Why this operator cannot start a chat with this identity now, or None."""
    channel = identity.channel
    if not adapter_class(channel.kind).can_start_conversations:
        return _("Website visitors can only be answered while they are writing to you.")
    if not identity.is_reachable:
        return _("The customer has blocked the bot or unsubscribed: they cannot be written to "
                 "until they write again.")
    if not channel.is_enabled:
        return _("This channel is disabled.")
    if not user.sees_all_queues and channel.queue_id not in access.queue_ids_for(user):
        return _("This channel’s queue is not one of yours.")
    if user.presence != "active":
        return _("Switch to Active to start chats.")
    if routing.load_of(user.id) + (channel.chat_weight or 1) > user.max_load:
        return routing.own_capacity_message(user)
    return None


def start_chat(user: User, identity_id: int) -> Chat:
    """An operator writes first: a new chat, already assigned to them."""
    identity = db.session.get(ContactIdentity, identity_id)
    if identity is None:
        raise ServiceError(_("There is no such contact identity."), status=404)
    reason = start_refusal(user, identity)
    if reason:
        raise NotAllowed(reason)
    existing = db.session.scalar(db.select(Chat).where(Chat.open_identity_id == identity.id))
    if existing is not None:
        return existing  # a chat is already open: go there instead of opening a second one
    now = utcnow()
    # The first statement writes the operator's row: it takes their row lock (PostgreSQL)
    # or the write lock (SQLite), so the load read below cannot race another hand-over,
    # and it only succeeds while they are Active.
    claimed = db.session.execute(
        update(User).where(User.id == user.id, User.presence == "active",
                           User.is_enabled.is_(True))
        .values(last_routed_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise NotAllowed(routing.not_active_message())
    if routing.load_of(user.id) + (identity.channel.chat_weight or 1) > user.max_load:
        message = routing.own_capacity_message(user)
        db.session.rollback()
        raise Conflict(message)
    chat, _is_new = find_or_open_chat(identity.channel, identity)
    chat.status, chat.assignee, chat.offered_at, chat.accepted_at = "active", user, now, now
    chat.last_message_at = now
    db.session.add(ChatEvent(chat=chat, kind="started", actor=user))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the customer wrote at this very moment: use their chat
        return db.session.scalar(db.select(Chat).where(Chat.open_identity_id == identity.id))
    live.chat_taken(chat)
    return chat


def team_available(queue, now=None) -> bool:
    """Is someone there to answer: within working hours and at least one member Active."""
    from . import hours
    return hours.is_open(queue, now or utcnow()) and bool(routing.active_member_ids(queue.id))


def send_away_reply(chat_id: int) -> bool:
    """A new chat arrived while the team is away (outside working hours, or nobody
    Active): the customer gets the queue's away message once, with the next opening time.
    Their message is kept and routed as soon as someone is there."""
    from . import hours
    chat = db.session.get(Chat, chat_id)
    if chat is None or not chat.is_open or chat.offline_notified:
        return False
    queue = chat.queue
    template = (queue.offline_message or "").strip()
    now = utcnow()
    if not template or team_available(queue, now):
        return False
    locale = (chat.identity.details or {}).get("language") or \
        (chat.identity.details or {}).get("language_code") or "en"
    try:
        next_open = hours.format_next_opening(queue, now, locale.replace("-", "_"))
    except Exception:  # noqa: BLE001 - an unknown locale: English rather than nothing
        next_open = hours.format_next_opening(queue, now, "en")
    text = template.replace("{next_open}", next_open or "").strip()
    result = db.session.execute(update(Chat).where(Chat.id == chat.id,
                                                   Chat.offline_notified.is_(False))
                                .values(offline_notified=True)
                                .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        return False
    message = _system_reply(chat, text, now)
    db.session.add(ChatEvent(chat_id=chat.id, kind="offline_reply",
                             details={"next_open": next_open}))
    db.session.commit()
    _send(message)
    return True
