"""Channels: creating and configuring them, and building their adapters."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from ..channels import adapter_class
from ..extensions import db
from ..models import Channel, ChatQueue
from ..realtime import publish
from .errors import ServiceError


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
    return channel


def set_enabled(channel: Channel, enabled: bool) -> None:
    channel.is_enabled = enabled
    db.session.commit()
