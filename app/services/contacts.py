"""Contacts and their channel identities."""
from __future__ import annotations

import logging

from ..extensions import db
from ..models import Channel, Chat, Contact, ContactIdentity, utcnow

log = logging.getLogger(__name__)


def find_or_create_identity(channel: Channel, external_id: str, name: str | None = None,
                            details: dict | None = None) -> tuple[ContactIdentity, bool]:
    """The identity of `external_id` on `channel`, creating contact and identity for an
    unknown sender. Two transactions creating the same identity at once: the unique
    constraint fails one of them at commit, and its caller retries (no savepoints: on
    SQLite they open a deferred transaction that cannot wait for the write lock)."""
    query = db.select(ContactIdentity).where(ContactIdentity.channel_id == channel.id,
                                             ContactIdentity.external_id == external_id)
    identity = db.session.scalar(query)
    if identity is not None:
        if name and not identity.display_name:
            identity.display_name = name
        if details and any(identity.details.get(k) != v for k, v in details.items()):
            identity.details = {**identity.details, **details}  # e.g. a new avatar link
        identity.contact.last_seen_at = utcnow()
        return identity, False
    contact = Contact(name=name or "")
    identity = ContactIdentity(contact=contact, channel=channel, external_id=external_id,
                               display_name=name, details=details or {})
    db.session.add_all([contact, identity])
    return identity, True


def visible_contacts(user):
    """Operators see the contacts who wrote to their queues; supervisors see everyone."""
    from .access import visible_chats
    query = db.select(Contact)
    if not user.sees_all_queues:
        chat_ids = visible_chats(user).with_only_columns(Chat.contact_id)
        query = query.where(Contact.id.in_(chat_ids))
    return query


def search_contacts(user, text: str | None):
    query = visible_contacts(user).order_by(Contact.last_seen_at.desc(), Contact.id.desc())
    if text:
        like = f"%{text.strip()}%"
        query = query.where(db.or_(
            Contact.name.ilike(like), Contact.email.ilike(like), Contact.phone.ilike(like),
            Contact.id.in_(db.select(ContactIdentity.contact_id).where(
                db.or_(ContactIdentity.display_name.ilike(like),
                       ContactIdentity.external_id.ilike(like))))))
    return query


AVATAR_MAX_BYTES = 5 * 1024 * 1024


def fetch_avatar(identity_id: int) -> bool:
    """Best effort: give a new contact the picture their messenger profile shows.
    Nothing depends on it, so a provider error is logged and the card keeps its initial."""
    from ..channels import ChannelError
    from . import channels as channel_service
    from . import storage

    identity = db.session.get(ContactIdentity, identity_id)
    if identity is None or identity.contact.avatar_key:
        return False
    adapter = channel_service.adapter_for(identity.channel)
    try:
        data = adapter.avatar(identity.external_id, identity.details or {})
        if not data:
            return False
        if len(data) > AVATAR_MAX_BYTES:
            raise storage.UploadRejected("the picture is too large")
        stored = storage.save_upload(storage.square_thumbnail(data), "avatar.jpg")
    except (ChannelError, storage.UploadRejected) as exc:
        log.info("contact %s: no avatar from %s (%s)", identity.contact_id,
                 identity.channel.kind, getattr(exc, "reason", None) or getattr(exc, "message", exc))
        return False
    if not stored.is_image:
        storage.discard(stored.storage_key)
        log.info("contact %s: the avatar from %s is not a picture", identity.contact_id,
                 identity.channel.kind)
        return False
    db.session.refresh(identity.contact)
    if identity.contact.avatar_key:  # another identity's job was quicker
        storage.discard(stored.storage_key)
        return False
    identity.contact.avatar_key = stored.storage_key
    db.session.commit()
    from . import live
    live.contact_changed(identity.contact)
    return True
