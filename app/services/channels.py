"""Channels: creating and configuring them, and building their adapters."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from ..channels import ChannelError, adapter_class
from ..channels.telegram import new_webhook_secret
from ..extensions import db
from ..models import Channel, ChatQueue
from ..models.channel import new_public_id
from ..realtime import publish
from . import secrets as secret_store
from .errors import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelSnapshot:
    """What the public widget API needs of a channel, cached briefly per process: the
    busiest endpoint then costs no channel query per message."""

    id: int
    public_id: str
    kind: str
    name: str
    queue_id: int
    is_enabled: bool
    settings: dict

    def setting(self, key, default=None):
        return self.settings.get(key, default)


SNAPSHOT_SECONDS = 5.0


def channel_snapshot(public_id: str, kind: str) -> ChannelSnapshot | None:
    """A channel by public id. Changes reach other processes within SNAPSHOT_SECONDS."""
    cache = current_app.extensions.setdefault("switchboard_channels", {})
    hit = cache.get(public_id)
    now = time.monotonic()
    if hit is not None and now - hit[0] < SNAPSHOT_SECONDS and hit[1].kind == kind:
        return hit[1]
    channel = db.session.scalar(db.select(Channel).where(Channel.public_id == public_id,
                                                         Channel.kind == kind))
    if channel is None:
        return None  # unknown ids are not cached: random ids must not grow memory
    snapshot = ChannelSnapshot(id=channel.id, public_id=channel.public_id, kind=channel.kind,
                               name=channel.name, queue_id=channel.queue_id,
                               is_enabled=channel.is_enabled, settings=dict(channel.settings or {}))
    cache[public_id] = (now, snapshot)
    return snapshot


def _forget(channel: Channel) -> None:
    current_app.extensions.setdefault("switchboard_channels", {}).pop(channel.public_id, None)


def adapter_for(channel: Channel, secrets: dict | None = None):
    settings = dict(channel.settings or {})
    settings["channel_id"] = channel.id
    if secrets is None:
        secrets = secret_store.decrypt(channel.secrets_encrypted)
    return adapter_class(channel.kind)(settings, secrets, publish=publish,
                                       config=current_app.config)


def public_base_url(fallback: str) -> str:
    return (current_app.config.get("PUBLIC_URL") or fallback).rstrip("/")


def webhook_url(channel: Channel, base: str) -> str:
    return f"{base.rstrip('/')}/webhooks/{channel.kind}/{channel.public_id}"


def connect_bot(kind: str, *, name: str, queue: ChatQueue, token: str,
                base_url: str) -> Channel:
    """Connect a messenger bot: check the token with the provider, refuse a bot that is
    already connected, register the webhook with a per-channel secret.

    The channel is committed before the webhook is registered, because some providers
    (Viber) call the webhook to verify it during registration; if anything fails, the
    channel is removed again, so nothing half-made is left behind."""
    cls = adapter_class(kind)
    token = token.strip()
    if not cls.token_looks_valid(token):
        raise ServiceError(cls.token_hint())
    secrets = {"token": token, "webhook_secret": new_webhook_secret()}
    channel = Channel(kind=kind, name=name.strip(), queue_id=queue.id,
                      public_id=new_public_id(), settings={})
    adapter = adapter_for(channel, secrets)
    try:
        bot = adapter.connect()
    except ChannelError as exc:
        log.info("%s connect refused: %s", kind, exc.reason)
        raise ServiceError(_("%(provider)s refused the token: %(reason)s",
                             provider=cls.label, reason=exc.reason)) from exc
    for other in db.session.scalars(db.select(Channel).where(Channel.kind == kind)):
        if other.setting("bot_id") == bot.external_id:
            raise ServiceError(_("The bot @%(bot)s is already connected here as “%(name)s”.",
                                 bot=bot.username, name=other.name), status=409)
    channel.settings = {"bot_id": bot.external_id, "bot_username": bot.username,
                        "bot_name": bot.name, "console_url": base_url}
    channel.secrets_encrypted = secret_store.encrypt(secrets)
    db.session.add(channel)
    db.session.commit()
    try:
        info = adapter_for(channel).register_webhook(webhook_url(channel, base_url))
    except ChannelError as exc:
        log.info("%s webhook refused: %s", kind, exc.reason)
        db.session.delete(channel)
        db.session.commit()
        raise ServiceError(_("%(provider)s did not accept the webhook: %(reason)s",
                             provider=cls.label, reason=exc.reason)) from exc
    channel.settings = dict(channel.settings, webhook=_webhook_summary(info))
    db.session.commit()
    log.info("%s channel %s connected to bot %s", kind, channel.id, bot.external_id)
    return channel


def reregister_webhook(channel: Channel, base_url: str) -> dict:
    """Register the webhook again ("actualize"); returns the provider's view of it."""
    adapter = adapter_for(channel)
    try:
        info = adapter.register_webhook(webhook_url(channel, base_url))
    except ChannelError as exc:
        channel.settings = dict(channel.settings, last_error=exc.reason)
        db.session.commit()
        raise ServiceError(_("The provider refused: %(reason)s", reason=exc.reason),
                           status=502) from exc
    channel.settings = dict(channel.settings, webhook=_webhook_summary(info), last_error=None)
    db.session.commit()
    _forget(channel)
    return info


def _webhook_summary(info: dict) -> dict:
    return {k: info.get(k) for k in ("url", "pending_update_count", "last_error_message",
                                     "last_error_date", "max_connections")}


def normalize_origin(value: str) -> str | None:
    """'https://Shop.example.com/path' -> 'https://shop.example.com'; None if not an origin."""
    from urllib.parse import urlsplit
    value = (value or "").strip()
    if not value:
        return None
    parts = urlsplit(value if "://" in value else "https://" + value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_origins(text: str) -> list[str]:
    origins, bad = [], []
    for raw in (text or "").replace(",", "\n").splitlines():
        if not raw.strip():
            continue
        origin = normalize_origin(raw)
        (origins if origin else bad).append(origin or raw.strip())
    if bad:
        raise ServiceError(_("These are not web addresses: %(list)s", list=", ".join(bad)))
    return sorted(set(origins))


def save_website_channel(channel: Channel | None, *, name: str, queue: ChatQueue,
                         origins: list[str], greeting: str, color: str, position: str,
                         console_url: str) -> Channel:
    if channel is None:
        channel = Channel(kind="website", settings={})
        db.session.add(channel)
    channel.name = name.strip()
    channel.queue_id = queue.id
    settings = dict(channel.settings or {})
    settings.update(allowed_origins=origins, greeting=greeting.strip(), color=color,
                    position=position)
    settings.setdefault("console_url", console_url.rstrip("/"))
    channel.settings = settings
    db.session.commit()
    _forget(channel)
    return channel


def set_enabled(channel: Channel, enabled: bool) -> None:
    channel.is_enabled = enabled
    db.session.commit()
    _forget(channel)


def rename_channel(channel: Channel, name: str, queue: ChatQueue) -> None:
    channel.name = name.strip()
    channel.queue_id = queue.id
    db.session.commit()
    _forget(channel)
