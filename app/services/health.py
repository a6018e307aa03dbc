"""Channel health: is the token still valid, is the webhook still ours, when did the
last event arrive, what failed lately. Checked by the worker every few minutes and on
demand from the channel page."""
from __future__ import annotations

import logging
from datetime import timedelta

from ..channels import ChannelError
from ..extensions import db
from ..models import Channel, Chat, Message, utcnow
from .channels import _forget, adapter_for, public_base_url, webhook_url

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(minutes=10)


def check_channel(channel: Channel) -> dict:
    """Ask the provider and store what it said in channel.settings["health"]."""
    adapter = adapter_for(channel)
    if not adapter.needs_webhook:
        return {}
    expected = webhook_url(channel, public_base_url(channel.setting("console_url") or ""))
    health = {"checked_at": utcnow().isoformat(), "expected_webhook": expected}
    try:
        adapter.connect()
        health["token_valid"] = True
    except ChannelError as exc:
        health["token_valid"] = not exc.permanent
        health["token_error"] = exc.reason
    if health["token_valid"]:
        try:
            info = adapter.webhook_info()
        except (ChannelError, NotImplementedError) as exc:
            health["webhook_error"] = getattr(exc, "reason", None)
        else:
            actual = info.get("url") or ""
            health["webhook_url"] = actual
            health["webhook_ours"] = actual == expected
            health["provider_error"] = info.get("last_error_message")
            health["pending_at_provider"] = info.get("pending_update_count")
    channel.settings = dict(channel.settings or {}, health=health)
    db.session.commit()
    _forget(channel)
    if health.get("token_valid") is False or health.get("webhook_ours") is False:
        log.warning("channel %s is unhealthy: %s", channel.id,
                    {k: v for k, v in health.items() if k in ("token_valid", "webhook_ours")})
    return health


def delivery_summary(channel: Channel) -> dict:
    """Outbound messages of the last day that wait or failed, and the latest error."""
    since = utcnow() - timedelta(days=1)
    base = db.select(Message).join(Chat, Chat.id == Message.chat_id).where(
        Chat.channel_id == channel.id, Message.direction == "out", Message.created_at >= since)
    pending = db.session.scalar(db.select(db.func.count()).select_from(
        base.where(Message.status == "pending").subquery()))
    failed = db.session.scalar(db.select(db.func.count()).select_from(
        base.where(Message.status == "failed").subquery()))
    last = db.session.scalar(base.where(Message.error.is_not(None))
                             .order_by(Message.status_changed_at.desc()).limit(1))
    return {"pending": pending or 0, "failed": failed or 0,
            "last_error": last.error if last else None,
            "last_error_at": last.status_changed_at if last else None}


def status(channel: Channel) -> str:
    """ok | warning | broken, for the channels list."""
    health = channel.setting("health") or {}
    if health.get("token_valid") is False or health.get("webhook_ours") is False:
        return "broken"
    if health.get("provider_error"):
        return "warning"
    return "ok"


def check_due_channels() -> int:
    """Run by the worker's sweeper: check messenger channels not checked lately."""
    done = 0
    for channel in db.session.scalars(db.select(Channel).where(Channel.kind != "website",
                                                               Channel.is_enabled.is_(True))):
        checked = (channel.setting("health") or {}).get("checked_at")
        if checked and utcnow() - _parse(checked) < CHECK_EVERY:
            continue
        try:
            check_channel(channel)
            done += 1
        except Exception:  # noqa: BLE001 - one channel's trouble must not stop the others
            db.session.rollback()
            log.exception("health check of channel %s failed", channel.id)
    return done


def _parse(value: str):
    from datetime import datetime
    return datetime.fromisoformat(value)
