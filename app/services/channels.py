"""Channels: creating and configuring them, and building their adapters."""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from ..channels import adapter_class
from ..extensions import db
from ..models import Channel, ChatQueue
from ..realtime import publish
from .errors import ServiceError


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


def adapter_for(channel: Channel):
    settings = dict(channel.settings or {})
    settings["channel_id"] = channel.id
    return adapter_class(channel.kind)(settings, None, publish=publish, config=current_app.config)


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
