"""The JSON the website widget reads: messages and chat state as the visitor sees them,
whether the team is there to answer; and the one thing a visitor may change about their
contact (the e-mail they leave while the team is away)."""
from __future__ import annotations

import logging
import time

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer

from ..extensions import db
from ..models import Attachment, Channel, Chat, ChatQueue, ContactIdentity, Message, utcnow
from . import hours
from .errors import ServiceError

log = logging.getLogger(__name__)

FILE_SALT = "switchboard.widget-file"
AVAILABILITY_SECONDS = 10.0
AVAILABILITY_MAX_ENTRIES = 1000
EMAIL_MAX = 254


def console_url(channel: Channel) -> str:
    return (current_app.config.get("PUBLIC_URL") or channel.setting("console_url") or "").rstrip("/")


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=FILE_SALT)


def file_token(attachment: Attachment, channel: Channel) -> str:
    return _signer().dumps([attachment.id, channel.id])


def read_file_token(token: str) -> tuple[int, int] | None:
    try:
        attachment_id, channel_id = _signer().loads(token)
        return int(attachment_id), int(channel_id)
    except (BadSignature, ValueError, TypeError):
        return None


def attachment_json(attachment: Attachment, channel: Channel) -> dict:
    return {
        "url": f"{console_url(channel)}/widget/v1/{channel.public_id}/files/"
               f"{file_token(attachment, channel)}",
        "name": attachment.filename, "mime": attachment.mime, "size": attachment.size,
        "image": attachment.is_image,
    }


def message_json(message: Message, channel: Channel) -> dict:
    return {
        "id": message.id,
        "client_id": message.client_id,
        "direction": message.direction,
        "text": message.text or "",
        "created_at": message.sent_at.isoformat(),
        "status": message.status,
        "author": message.author.name.split()[0] if message.author and message.author.name else None,
        "attachments": [attachment_json(a, channel) for a in message.attachments],
    }


def chat_json(chat: Chat | None) -> dict | None:
    if chat is None:
        return None
    return {"id": chat.id, "status": chat.status}


# -- is the team there? ---------------------------------------------------------------------
def availability(channel, locale: str = "en") -> dict:
    """{"available", "next_open", "ask_email"} for the channel's queue, as the widget shows it.

    available: within working hours and at least one member Active (the rule of
    chats.team_available, which sends the away reply); next_open: when the queue opens
    next, for the visitor ("Monday 09:00 (Europe/Berlin)"), only while it is closed.
    The config is fetched on every page view of the customer's site, so this is cached
    per process for AVAILABILITY_SECONDS per channel and language: a change (an operator
    going Active, a new schedule) reaches widgets within that time."""
    cache = current_app.extensions.setdefault("switchboard_availability", {})
    key = (channel.id, channel.queue_id, str(locale))
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < AVAILABILITY_SECONDS:
        return hit[1]
    block = _availability(channel.queue_id, str(locale))
    if len(cache) >= AVAILABILITY_MAX_ENTRIES:
        cache.clear()  # only stale entries of deleted channels could grow it
    cache[key] = (now, block)
    return block


def _availability(queue_id: int, locale: str) -> dict:
    from .chats import team_available
    queue = db.session.get(ChatQueue, queue_id)
    if queue is None:
        return {"available": False, "next_open": None, "ask_email": False}
    at = utcnow()
    available = team_available(queue, at)
    next_open = None
    if not available and not hours.is_open(queue, at):
        next_open = hours.format_next_opening(queue, at, locale)
    return {"available": available, "next_open": next_open or None,
            "ask_email": bool(queue.ask_email_offline)}


# -- the e-mail a visitor leaves -------------------------------------------------------------
def save_visitor_email(channel, visitor: str, value: str | None) -> str:
    """Store the address a visitor left in the widget on their contact; returns it
    normalized. Refuses what is not an address (400) and a visitor without a contact yet
    (404: their first message has not been processed)."""
    value = (value or "").strip()
    if not value:
        raise ServiceError(_("Please enter your e-mail address."))
    try:
        email = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        email = None
    if not email or len(email) > EMAIL_MAX:
        raise ServiceError(_("This does not look like an e-mail address. Please check it."))
    identity = db.session.scalar(db.select(ContactIdentity).where(
        ContactIdentity.channel_id == channel.id, ContactIdentity.external_id == visitor))
    if identity is None:
        raise ServiceError(_("We could not find your conversation yet. Please try again "
                             "in a moment."), status=404)
    identity.contact.email = email
    db.session.commit()
    # The address itself is personal data: not logged.
    log.info("widget: the visitor of channel %s left an e-mail for contact %s",
             channel.id, identity.contact_id)
    return email
