"""Accounts, setup and presence."""
from __future__ import annotations

import logging

from flask_babel import gettext as _

from ..extensions import db
from ..models import ChatQueue, Organization, User, utcnow
from . import live
from .errors import ServiceError

log = logging.getLogger(__name__)


def setup_done() -> bool:
    return db.session.scalar(db.select(Organization.id).limit(1)) is not None


def complete_setup(org_name: str, name: str, email: str, password: str,
                   language: str = "en") -> User:
    """Create the organisation and its first admin in one transaction."""
    if setup_done():
        raise ServiceError(_("Setup has already been completed."), status=409)
    org = Organization(name=org_name.strip())
    admin = User(name=name.strip(), email=email.strip().lower(), role="admin",
                 language=language, presence="offline")
    admin.set_password(password)
    db.session.add_all([org, admin])
    db.session.commit()
    log.info("setup completed for %r", org.name)
    return admin


def organization() -> Organization | None:
    return db.session.scalar(db.select(Organization).limit(1))


def email_taken(email: str, except_id: int | None = None) -> bool:
    query = db.select(User.id).where(db.func.lower(User.email) == email.strip().lower())
    if except_id:
        query = query.where(User.id != except_id)
    return db.session.scalar(query) is not None


def create_user(name: str, email: str, password: str, role: str, language: str,
                queue_ids: list[int], max_load: int = 3) -> User:
    """A new account. `max_load`: how much chat weight the operator may hold at once
    (1..50); an impossible value raises InvalidSettings keyed "max_load"."""
    from .queues import InvalidSettings, number_problem
    if email_taken(email):
        raise ServiceError(_("A user with this e-mail already exists."))
    if problem := number_problem("max_load", max_load):
        raise InvalidSettings({"max_load": [problem]})
    user = User(name=name.strip(), email=email.strip().lower(), role=role, language=language,
                max_load=max_load)
    user.set_password(password)
    user.queues = list(db.session.scalars(db.select(ChatQueue).where(ChatQueue.id.in_(queue_ids))))
    db.session.add(user)
    db.session.commit()
    return user


def update_user(user: User, *, name: str, email: str, role: str, language: str,
                queue_ids: list[int], password: str | None, actor: User,
                max_load: int | None = None) -> None:
    """Change an account. `max_load` None keeps the current one. Refused (nothing
    changed): an impossible max load, and leaving a round-robin or least-loaded queue
    without any enabled member (nobody could get its chats)."""
    from .queues import AUTO_MODES, InvalidSettings, mode_label, number_problem
    if email_taken(email, except_id=user.id):
        raise ServiceError(_("A user with this e-mail already exists."))
    if user.id == actor.id and role != "admin" and actor.role == "admin":
        raise ServiceError(_("You cannot take away your own admin role."))
    if max_load is not None and (problem := number_problem("max_load", max_load)):
        raise InvalidSettings({"max_load": [problem]})
    stranded = [q for q in user.queues if q.id not in set(queue_ids or [])
                and q.routing_mode in AUTO_MODES and user.is_enabled
                and not any(m.is_enabled and m.id != user.id for m in q.members)]
    if stranded:
        raise InvalidSettings({"queues": [
            _("%(user)s is the only member of “%(queue)s” (%(mode)s): without them nobody "
              "could get its chats. Add another member to that queue first, or switch it to "
              "Manual.", user=user.name, queue=q.name, mode=mode_label(q.routing_mode))
            for q in stranded]})
    if max_load is not None:
        user.max_load = max_load
    user.name = name.strip()
    user.email = email.strip().lower()
    if password:
        user.set_password(password)
    user.role = role
    user.language = language
    user.queues = list(db.session.scalars(db.select(ChatQueue).where(ChatQueue.id.in_(queue_ids))))
    db.session.commit()
    if user.presence == "active":
        from . import routing
        routing.route([q.id for q in user.queues])  # more room or new queues: use it now


def set_enabled(user: User, enabled: bool, actor: User) -> None:
    if user.id == actor.id and not enabled:
        raise ServiceError(_("You cannot deactivate yourself."))
    if not enabled and user.role == "admin" and db.session.scalar(
            db.select(db.func.count(User.id)).where(User.role == "admin",
                                                    User.is_enabled.is_(True))) <= 1:
        raise ServiceError(_("The last active admin cannot be deactivated."))
    if not enabled:
        from .queues import AUTO_MODES, mode_label
        stranded = [q for q in user.queues if q.routing_mode in AUTO_MODES
                    and not any(m.is_enabled and m.id != user.id for m in q.members)]
        if stranded:
            q = stranded[0]
            raise ServiceError(_(
                "%(user)s is the only member of “%(queue)s” (%(mode)s): without them nobody "
                "could get its chats. Add another member to that queue first, or switch it to "
                "Manual.", user=user.name, queue=q.name, mode=mode_label(q.routing_mode)))
    user.is_enabled = enabled
    if not enabled:
        set_presence(user, "offline", actor=actor, reason="deactivated")
    db.session.commit()


def set_language(user: User, language: str) -> None:
    user.language = language
    db.session.commit()


def set_presence(user: User, presence: str, *, actor: User | None = None,
                 reason: str = "", disconnected_before=None) -> bool:
    """Change an operator's status (themselves, a supervisor, or the worker when their
    last tab is gone). Every change is logged. Going Active hands them waiting chats;
    going Away or Offline gives their chats and offers back to the queue.

    The change is one conditional UPDATE from the status we read: of two changes at once
    (the operator and the sweeper, two supervisors) one wins and the other sees the new
    status, so the log never has two open periods. `disconnected_before`: only if no tab
    has reported since then (the sweeper; a tab that just came back wins). Returns
    whether the status changed."""
    from . import routing
    if user.presence == presence:
        return False
    now = utcnow()
    values = {"presence": presence, "presence_changed_at": now}
    if presence == "active":
        values["last_connected_at"] = now  # the tab timer starts now, not at the last visit
    conditions = [User.id == user.id, User.presence == user.presence]
    if disconnected_before is not None:
        conditions.append(db.or_(User.last_connected_at.is_(None),
                                 User.last_connected_at <= disconnected_before))
    changed = db.session.execute(db.update(User).where(*conditions).values(**values)
                                 .execution_options(synchronize_session=False))
    if changed.rowcount != 1:
        db.session.rollback()
        db.session.refresh(user)
        return False
    db.session.refresh(user)
    _log_presence(user, presence, now, actor, reason)
    moved, unoffered = [], []
    if presence != "active":
        why = reason or ("away" if presence == "away" else "offline")
        moved = [(chat, user.id) for chat in routing.redistribute(
            user, reason=why, actor_id=actor.id if actor else None)]
        db.session.flush()
        unoffered = routing.unoffer_if_nobody_active(q.id for q in user.queues)
    db.session.commit()
    for chat in unoffered:
        live.chat_waiting(chat, new=False)
    log.info("user %s is now %s%s", user.id, presence, f" ({reason})" if reason else "")
    live.presence_changed(user)
    if moved:
        routing.after_requeue(moved)
    if presence == "active":
        routing.route([q.id for q in user.queues])
    return True


def _log_presence(user: User, presence: str, now, actor: User | None, reason: str) -> None:
    from ..models import UserStatusLog
    db.session.execute(db.update(UserStatusLog).where(
        UserStatusLog.user_id == user.id, UserStatusLog.ended_at.is_(None)).values(ended_at=now))
    db.session.add(UserStatusLog(user_id=user.id, presence=presence, started_at=now,
                                 actor_id=actor.id if actor else None, reason=reason[:40]))


def presence_durations(user_id: int, since, until=None) -> dict[str, float]:
    """Seconds spent in each status between `since` and `until` (now)."""
    return presence_durations_many([user_id], since, until)[user_id]


def presence_durations_many(user_ids, since, until=None) -> dict[int, dict[str, float]]:
    """`presence_durations` for many operators in three queries (the board)."""
    from ..models import UserStatusLog
    until = until or utcnow()
    user_ids = list(user_ids)
    totals = {uid: {"active": 0.0, "away": 0.0, "offline": 0.0} for uid in user_ids}
    if not user_ids:
        return totals
    first = {}
    rows = db.session.execute(db.select(
        UserStatusLog.user_id, UserStatusLog.presence, UserStatusLog.started_at,
        UserStatusLog.ended_at).where(
        UserStatusLog.user_id.in_(user_ids), UserStatusLog.started_at < until,
        db.or_(UserStatusLog.ended_at.is_(None), UserStatusLog.ended_at > since)))
    for user_id, presence, started_at, ended_at in rows:
        first[user_id] = min(first.get(user_id, started_at), started_at)
        start = max(started_at, since)
        end = min(ended_at or until, until)
        if end > start and presence in totals[user_id]:
            totals[user_id][presence] += (end - start).total_seconds()
    # Before the first logged change in the period (a new account, or one from before the
    # log existed) the operator was in the status the previous change left, or, with no
    # change logged at all, in their current one.
    gaps = [uid for uid in user_ids if first.get(uid, until) > since]
    if gaps:
        before = dict(db.session.execute(
            db.select(UserStatusLog.user_id, UserStatusLog.presence)
            .where(UserStatusLog.user_id.in_(gaps), UserStatusLog.ended_at.is_not(None),
                   UserStatusLog.ended_at <= since)
            .order_by(UserStatusLog.user_id, UserStatusLog.ended_at)).all())
        current = dict(db.session.execute(db.select(User.id, User.presence)
                                          .where(User.id.in_(gaps))).all())
        for uid in gaps:
            was = before.get(uid) or ("offline" if uid in first else current.get(uid))
            was = was if was in totals[uid] else "offline"
            totals[uid][was] += (first.get(uid, until) - since).total_seconds()
    return totals


def touch_connection(user_id: int) -> None:
    """An open workspace tab says it is still there (the tab timer reads this)."""
    db.session.execute(db.update(User).where(User.id == user_id)
                       .values(last_connected_at=utcnow()))
    db.session.commit()
