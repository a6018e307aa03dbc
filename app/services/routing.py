"""Routing: which operator gets which waiting chat, and the timers of every chat state.

Modes (per queue):
- manual: a waiting chat is offered to every Active member at once; the first to accept
  takes it.
- round_robin: offered to one Active member at a time, in turn (whoever was routed a
  chat longest ago goes next).
- least_loaded: offered to the Active member with the most free capacity; ties go to
  whoever has waited longest since their last chat.

An operator's load is the sum of the weights of the chats they hold (assigned, or
offered to them alone); it never exceeds their maximum. The database enforces that: every
hand-over is one conditional UPDATE whose WHERE re-computes the load, after taking the
operator's row lock (PostgreSQL; SQLite has one writer at a time anyway). Chats are
handed over by conditional UPDATEs on their status, so each is assigned exactly once.

Timers live in the database (deadlines and timestamps), so they survive restarts: the
worker's sweeper checks them every few seconds, and an offer's expiry is also scheduled
to the second as an RQ job.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import aliased

from ..extensions import db
from .. import jobs
from ..models import Chat, ChatEvent, ChatQueue, User, queue_members, utcnow
from .errors import Conflict, NotAllowed, NotFound, ServiceError

log = logging.getLogger(__name__)

HELD = ("active", "offered")


# -- load ---------------------------------------------------------------------------------
def _held_by(user_id, chat_alias):
    return or_(and_(chat_alias.assignee_id == user_id, chat_alias.status == "active"),
               and_(chat_alias.offered_to_id == user_id, chat_alias.status == "offered"))


def load_of(user_id: int) -> int:
    return int(db.session.scalar(db.select(func.coalesce(func.sum(Chat.weight), 0))
                                 .where(_held_by(user_id, Chat))) or 0)


def loads_for(user_ids) -> dict[int, int]:
    """Current load of each operator, in two grouped queries."""
    user_ids = list(user_ids)
    loads = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return loads
    for column, status in ((Chat.assignee_id, "active"), (Chat.offered_to_id, "offered")):
        rows = db.session.execute(
            db.select(column, func.sum(Chat.weight)).where(column.in_(user_ids),
                                                           Chat.status == status)
            .group_by(column))
        for user_id, total in rows:
            loads[user_id] += int(total or 0)
    return loads


def _fits(user_id: int):
    """SQL: this chat fits in the operator's free capacity (other held chats + its weight
    <= max_load). Evaluated inside the UPDATE, so it sees every committed hand-over."""
    other = aliased(Chat)
    held = (db.select(func.coalesce(func.sum(other.weight), 0))
            .where(other.id != Chat.id, _held_by(user_id, other)).scalar_subquery())
    max_load = db.select(User.max_load).where(User.id == user_id).scalar_subquery()
    return held + Chat.weight <= max_load


def _available(user_id: int):
    """SQL: the operator is Active and enabled now (read inside the UPDATE, after their
    row lock: someone going Offline at this moment cannot be handed a chat)."""
    return db.exists().where(User.id == user_id, User.presence == "active",
                             User.is_enabled.is_(True))


def _lock_operator(user_id: int) -> None:
    """Serialize hand-overs to one operator (PostgreSQL row lock; a no-op on SQLite,
    where the UPDATE itself waits for the single write lock)."""
    # FOR NO KEY UPDATE: it still serializes hand-overs to this operator, but does not
    # block the foreign-key checks of rows that merely reference them (their messages,
    # events, status log), which would deadlock crossed transfers.
    db.session.execute(db.select(User.id).where(User.id == user_id)
                       .with_for_update(key_share=True))


def _at_capacity_message(user: User) -> str:
    return _("%(name)s already has as many chats as they can take (%(load)s of %(max)s).",
             name=user.name, load=load_of(user.id), max=user.max_load)


def own_capacity_message(user: User) -> str:
    return _("You already have as many chats as you can take (%(load)s of %(max)s). "
             "Close one first.", load=load_of(user.id), max=user.max_load)


def not_active_message() -> str:
    return _("You are not Active: switch to Active to take chats.")


# -- choosing -------------------------------------------------------------------------------
@dataclass
class Candidate:
    user_id: int
    name: str
    max_load: int
    load: int
    last_routed_at: datetime | None
    skipped: bool = False

    @property
    def free(self) -> int:
        return self.max_load - self.load


@dataclass
class Decision:
    """Who gets the chat and why (kept in the chat's history: "why here?")."""

    user_id: int
    details: dict = field(default_factory=dict)


def _never(dt):
    return dt or datetime.min.replace(tzinfo=utcnow().tzinfo)


def choose(mode: str, weight: int, candidates: list[Candidate]) -> Decision | None:
    """The routing rule, pure: the operator who gets a chat of `weight`, or None.
    Never one whose load would exceed their maximum. Operators who let this chat's
    offer expire (or declined it) come last: the chat goes round first."""
    fitting = [c for c in candidates if c.load + weight <= c.max_load]
    if not fitting:
        return None
    fresh = [c for c in fitting if not c.skipped] or fitting
    if mode == "least_loaded":
        best = min(fresh, key=lambda c: (-c.free, _never(c.last_routed_at), c.user_id))
        reason = "most_free"
    else:
        best = min(fresh, key=lambda c: (_never(c.last_routed_at), c.user_id))
        reason = "turn"
    return Decision(best.user_id, {
        "mode": mode, "reason": reason, "operator": best.name, "load": best.load,
        "max_load": best.max_load, "weight": weight, "candidates": len(candidates),
        "fitting": len(fitting),
    })


def _active_members(*columns):
    """A select() of `columns` over the Active, enabled members of queues (filter it on
    queue_members.c.queue_id)."""
    return (db.select(*columns).select_from(User)
            .join(queue_members, queue_members.c.user_id == User.id)
            .where(User.presence == "active", User.is_enabled.is_(True)))


def _candidates(queue_id: int) -> list[Candidate]:
    rows = db.session.execute(
        _active_members(User.id, User.name, User.max_load, User.last_routed_at)
        .where(queue_members.c.queue_id == queue_id).order_by(User.id)).all()
    loads = loads_for(r.id for r in rows)
    return [Candidate(r.id, r.name, r.max_load, loads[r.id], r.last_routed_at) for r in rows]


def active_member_ids(queue_id: int) -> list[int]:
    return list(db.session.scalars(
        _active_members(User.id).where(queue_members.c.queue_id == queue_id)))


def queue_ids_of(user_ids) -> set[int]:
    """The queues these operators are members of."""
    return set(db.session.scalars(db.select(queue_members.c.queue_id).where(
        queue_members.c.user_id.in_(list(user_ids)))))


# -- routing --------------------------------------------------------------------------------
def waiting_query(queue_id: int):
    """Waiting chats in the order they are handed out: priority, then oldest first."""
    return (db.select(Chat).where(Chat.queue_id == queue_id, Chat.status == "queued")
            .order_by(Chat.priority.desc(), Chat.created_at, Chat.id))


def route(queue_ids=None, *, use_lock: bool = True) -> list[Chat]:
    """Hand out the waiting chats of these queues (all when None). Commits after every
    hand-over (short transactions: an operator's row lock is never held for long);
    returns the chats whose state changed, already published to the live UI.

    One process routes a queue at a time (a Redis lock, to save work; correctness does
    not depend on it). Whoever finds the lock taken leaves a note, and the holder runs
    once more, so a chat committed meanwhile is never left waiting."""
    from . import live
    query = db.select(ChatQueue.id).order_by(ChatQueue.id)
    if queue_ids is not None:
        queue_ids = sorted(set(queue_ids))
        if not queue_ids:
            return []
        query = query.where(ChatQueue.id.in_(queue_ids))
    changed = []
    for queue_id in list(db.session.scalars(query)):
        while True:
            lock = jobs.try_lock_quietly(f"route:{queue_id}", timeout=60) if use_lock \
                else jobs.NO_LOCK
            if lock is None:
                jobs.set_flag(f"route-again:{queue_id}")
                # The holder may have finished between our try and our note: try once
                # more, so the note is never left for nobody.
                lock = jobs.try_lock_quietly(f"route:{queue_id}", timeout=60)
                if lock is None:
                    break
            try:
                queue = db.session.get(ChatQueue, queue_id)
                done = _route_queue(queue) if queue is not None else []
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            finally:
                jobs.release_quietly(lock)
            for chat in done:
                if chat.offered_to_id and chat.offer_expires_at:
                    # After the commit: never a Redis round trip while holding row locks.
                    jobs.enqueue("app.jobs.routing.expire_offer", chat.id, queue="default",
                                 delay=max(0.5, (chat.offer_expires_at - utcnow())
                                           .total_seconds() + 0.5))
            if done:
                live.chats_changed(done)  # one message per topic for the whole pass
            changed.extend(done)
            if not use_lock or not jobs.pop_flag(f"route-again:{queue_id}"):
                break
    db.session.commit()
    return changed


def _route_queue(queue: ChatQueue) -> list[Chat]:
    waiting = list(db.session.scalars(waiting_query(queue.id).limit(500)))
    if not waiting:
        return []
    if queue.routing_mode == "manual":
        if not active_member_ids(queue.id):
            return []
        now = utcnow()
        offered = []
        for chat in waiting:
            # Conditional: an operator may have accepted it since we read the list.
            result = db.session.execute(
                update(Chat).where(Chat.id == chat.id, Chat.status == "queued",
                                   Chat.assignee_id.is_(None))
                .values(status="offered", offered_at=func.coalesce(Chat.offered_at, now))
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                db.session.add(ChatEvent(chat_id=chat.id, kind="offered",
                                         details={"mode": "manual", "reason": "everyone"}))
                offered.append(chat)
        return offered  # route() commits; the chats are read afresh after it
    changed = []
    candidates = _candidates(queue.id)
    if not candidates:
        return []
    for chat in waiting:
        for candidate in candidates:
            candidate.skipped = candidate.user_id in (chat.routing_skip or [])
        tried = set()
        while True:
            decision = choose(queue.routing_mode, chat.weight,
                              [c for c in candidates if c.user_id not in tried])
            if decision is None:
                break
            if _offer(chat, decision, queue.offer_timeout_seconds):
                db.session.commit()
                picked = next(c for c in candidates if c.user_id == decision.user_id)
                picked.load += chat.weight
                picked.last_routed_at = utcnow()
                changed.append(chat)
                break
            # Someone else changed this operator's load meanwhile: read it again.
            db.session.rollback()
            tried.add(decision.user_id)
            fresh = load_of(decision.user_id)
            for c in candidates:
                if c.user_id == decision.user_id:
                    c.load = fresh
            db.session.refresh(chat)
            if chat.status != "queued":
                break
        if not any(c.load + 1 <= c.max_load for c in candidates):
            break  # everyone is full: the rest wait
    return changed


def _offer(chat: Chat, decision: Decision, timeout_seconds: int) -> bool:
    """Hold the chat for one operator, if it is still waiting and fits their load."""
    now = utcnow()
    _lock_operator(decision.user_id)
    expires = now + timedelta(seconds=timeout_seconds)
    result = db.session.execute(
        update(Chat).where(Chat.id == chat.id, Chat.status == "queued",
                           Chat.assignee_id.is_(None), _fits(decision.user_id),
                           _available(decision.user_id))
        .values(status="offered", offered_to_id=decision.user_id, offer_expires_at=expires,
                offered_at=func.coalesce(Chat.offered_at, now))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.execute(update(User).where(User.id == decision.user_id)
                       .values(last_routed_at=now).execution_options(synchronize_session=False))
    db.session.add(ChatEvent(chat_id=chat.id, kind="offered", details={
        **decision.details, "operator_id": decision.user_id,
        "timeout_seconds": timeout_seconds}))
    return True


# -- accepting ------------------------------------------------------------------------------
def accept(user: User, chat: Chat) -> None:
    """One conditional UPDATE: of two operators clicking together exactly one wins, an
    offer held for someone else cannot be taken, and nobody exceeds their load."""
    now = utcnow()
    _lock_operator(user.id)
    result = db.session.execute(
        update(Chat)
        .where(Chat.id == chat.id, Chat.status.in_(("queued", "offered")),
               Chat.assignee_id.is_(None),
               or_(Chat.offered_to_id.is_(None), Chat.offered_to_id == user.id),
               _fits(user.id), _available(user.id))
        .values(status="active", assignee_id=user.id, accepted_at=now, offered_to_id=None,
                offer_expires_at=None, routing_skip=[],
                offered_at=func.coalesce(Chat.offered_at, now))
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        db.session.execute(update(User).where(User.id == user.id).values(last_routed_at=now)
                           .execution_options(synchronize_session=False))
        return
    db.session.rollback()
    db.session.refresh(chat)
    if chat.status == "closed":
        raise Conflict(_("This chat is already closed."))
    if chat.assignee_id == user.id and chat.status == "active":
        return  # a double click: it is already theirs
    if chat.assignee is not None:
        raise Conflict(_("%(name)s has already accepted this chat.", name=chat.assignee.name))
    if chat.offered_to_id not in (None, user.id):
        raise Conflict(_("This chat is being offered to %(name)s.", name=chat.offered_to.name))
    db.session.refresh(user)
    if user.presence != "active":
        raise Conflict(not_active_message())
    if chat.status in ("queued", "offered"):
        raise Conflict(own_capacity_message(user))
    raise Conflict(_("Another operator accepted this chat."))


def decline(user: User, chat_id: int) -> Chat:
    """The operator passes on an offer made to them: it goes to the next one now."""
    from . import live
    chat = db.session.get(Chat, chat_id)
    if chat is None or chat.offered_to_id != user.id or chat.status != "offered":
        raise Conflict(_("This chat is no longer offered to you."))
    if not _release_offer(chat, user.id, kind="declined", actor_id=user.id):
        raise Conflict(_("This chat is no longer offered to you."))
    db.session.commit()
    live.chat_waiting(chat, new=False)
    route([chat.queue_id])
    return chat


def _release_offer(chat: Chat, user_id: int, *, kind: str, actor_id=None,
                   now=None) -> bool:
    skip = sorted(set(chat.routing_skip or []) | {user_id})
    conditions = [Chat.id == chat.id, Chat.status == "offered", Chat.offered_to_id == user_id]
    if now is not None:
        conditions.append(Chat.offer_expires_at <= now)
    result = db.session.execute(
        update(Chat).where(*conditions)
        .values(status="queued", offered_to_id=None, offer_expires_at=None, routing_skip=skip)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.add(ChatEvent(chat_id=chat.id, kind=kind, actor_id=actor_id,
                             details={"operator_id": user_id}))
    db.session.flush()
    db.session.refresh(chat)
    return True


# -- giving chats back ----------------------------------------------------------------------
NOT_MOVED = object()


def same(column, value):
    """SQL: the column still holds the value read earlier (NULL-safe)."""
    return column.is_(None) if value is None else column == value


def requeue(chat: Chat, *, kind: str, reason: str, actor_id=None, to_queue: ChatQueue | None = None,
            comment: str = "", skip_user: int | None = None, conditions=()):
    """Put an open chat back in a queue (its own, or `to_queue`), only if it is still as
    the caller read it (status, holder, queue, and any extra `conditions`): a chat that
    was answered, transferred or accepted meanwhile is left alone. Returns the previous
    holder's id (None if nobody held it), or NOT_MOVED. The caller commits and publishes."""
    previous = chat.assignee_id or chat.offered_to_id
    skip = set(chat.routing_skip or [])
    if skip_user:
        skip.add(skip_user)
    from_queue = chat.queue_id
    values = dict(status="queued", assignee_id=None, offered_to_id=None, offer_expires_at=None,
                  accepted_at=None, routing_skip=sorted(skip))
    if to_queue is not None and to_queue.id != chat.queue_id:
        values["queue_id"] = to_queue.id
        values["routing_skip"] = []
    result = db.session.execute(
        update(Chat).where(Chat.id == chat.id, Chat.status == chat.status,
                           Chat.status.in_(HELD + ("queued",)),
                           same(Chat.assignee_id, chat.assignee_id),
                           same(Chat.offered_to_id, chat.offered_to_id),
                           Chat.queue_id == from_queue, *conditions)
        .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return NOT_MOVED
    details = {"reason": reason, "from_queue_id": from_queue, "to_queue_id": values.get(
        "queue_id", from_queue)}
    if previous:
        details["operator_id"] = previous
    if comment:
        details["comment"] = comment
    db.session.add(ChatEvent(chat_id=chat.id, kind=kind, actor_id=actor_id, details=details))
    db.session.flush()
    db.session.refresh(chat)
    return previous


def redistribute(user: User, *, reason: str, actor_id=None) -> list[Chat]:
    """The operator went Away or Offline (or lost their last tab): their chats and offers
    go back to the queue for someone else. The caller commits, then calls `after_requeue`."""
    held = list(db.session.scalars(db.select(Chat).where(_held_by(user.id, Chat))))
    moved = []
    for chat in held:
        if requeue(chat, kind="requeued", reason=reason, actor_id=actor_id,
                   skip_user=user.id) is not NOT_MOVED:
            moved.append(chat)
    return moved


def unoffer_if_nobody_active(queue_ids) -> list[Chat]:
    """Manual mode: chats offered to "everyone Active" wait again once nobody is."""
    queue_ids = list(set(queue_ids))
    if not queue_ids:
        return []
    staffed = set(db.session.scalars(
        _active_members(queue_members.c.queue_id)
        .where(queue_members.c.queue_id.in_(queue_ids))))
    empty = [q for q in queue_ids if q not in staffed]
    if not empty:
        return []
    ids = list(db.session.scalars(db.select(Chat.id).where(
        Chat.queue_id.in_(empty), Chat.status == "offered", Chat.offered_to_id.is_(None),
        Chat.assignee_id.is_(None))))
    changed = []
    for chat_id in ids:
        # Conditional: someone may have accepted it meanwhile.
        result = db.session.execute(
            update(Chat).where(Chat.id == chat_id, Chat.status == "offered",
                               Chat.offered_to_id.is_(None), Chat.assignee_id.is_(None))
            .values(status="queued").execution_options(synchronize_session=False))
        if result.rowcount == 1:
            db.session.add(ChatEvent(chat_id=chat_id, kind="unoffered",
                                     details={"reason": "nobody_active"}))
            changed.append(db.session.get(Chat, chat_id))
    return changed


def after_requeue(chats: list[tuple[Chat, int | None]]) -> None:
    """Publish chats that went back to a queue, then hand them out again."""
    from . import live
    for chat, previous in chats:
        live.chat_requeued(chat, previous)
    if chats:
        # The chats' queues, and the other queues of whoever lost them (room freed up).
        freed = {prev for _chat, prev in chats if prev}
        route({chat.queue_id for chat, _prev in chats} | queue_ids_of(freed))


def set_priority(actor: User, chat_id: int, priority: int) -> Chat:
    from . import access, live
    if not actor.sees_all_queues:
        raise NotAllowed(_("Only a supervisor can change a chat’s priority."))
    chat = access.get_visible_chat(actor, chat_id)
    if chat.status not in ("queued", "offered"):
        raise Conflict(_("Only a waiting chat has a priority."))
    if chat.priority == priority:
        return chat
    db.session.add(ChatEvent(chat_id=chat.id, kind="priority", actor_id=actor.id,
                             details={"from": chat.priority, "to": priority}))
    chat.priority = priority
    db.session.commit()
    live.chat_waiting(chat, new=False)
    route([chat.queue_id])
    return chat


# -- transfers ------------------------------------------------------------------------------
def transfer(actor: User, chat_id: int, *, to_user_id: int | None = None,
             to_queue_id: int | None = None, comment: str = "") -> Chat:
    """The assignee hands the chat to another operator or queue, with a comment the next
    operator sees; a supervisor may move any open chat."""
    from . import access, live
    chat = access.get_visible_chat(actor, chat_id)
    if not chat.is_open:
        raise Conflict(_("This chat is already closed."))
    if chat.assignee_id != actor.id and not actor.sees_all_queues:
        raise NotAllowed(_("Only the operator of this chat or a supervisor can transfer it."))
    comment = (comment or "").strip()
    if len(comment) > 1000:
        raise ServiceError(_("The comment is too long (at most %(n)s characters).", n=1000))
    if (to_user_id is None) == (to_queue_id is None):
        raise ServiceError(_("Choose an operator or a queue to transfer the chat to."))
    previous = chat.assignee_id
    if to_queue_id is not None:
        queue = db.session.get(ChatQueue, to_queue_id)
        if queue is None:
            raise NotFound(_("There is no such queue."))
        if queue.id == chat.queue_id and chat.status != "active":
            raise ServiceError(_("The chat is already waiting in this queue."))
        # Back to its own queue: the operator who gave it away is not offered it again
        # before the others have had their turn.
        if requeue(chat, kind="transferred", reason="transfer", actor_id=actor.id,
                   to_queue=queue, comment=comment,
                   skip_user=previous if queue.id == chat.queue_id else None) is NOT_MOVED:
            db.session.rollback()
            raise Conflict(_("This chat changed meanwhile; look again."))
        db.session.commit()
        after_requeue([(chat, previous)])
        return chat
    target = db.session.get(User, to_user_id)
    if target is None or not target.is_enabled:
        raise NotFound(_("There is no such operator."))
    if target.id == chat.assignee_id:
        raise ServiceError(_("The chat is already %(name)s’s.", name=target.name))
    if not target.sees_all_queues and chat.queue_id not in {q.id for q in target.queues}:
        raise ServiceError(_("%(name)s is not a member of this chat’s queue.", name=target.name))
    if target.presence != "active":
        raise ServiceError(_("%(name)s is not Active and cannot take chats now.",
                             name=target.name))
    now = utcnow()
    _lock_operator(target.id)
    result = db.session.execute(
        update(Chat).where(Chat.id == chat.id, Chat.status.in_(HELD + ("queued",)),
                           same(Chat.assignee_id, previous),
                           _fits(target.id), _available(target.id))
        .values(status="active", assignee_id=target.id, offered_to_id=None,
                offer_expires_at=None, accepted_at=now, routing_skip=[],
                offered_at=func.coalesce(Chat.offered_at, now))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(chat)
        if chat.assignee_id != previous or not chat.is_open:
            raise Conflict(_("This chat changed meanwhile; look again."))
        raise Conflict(_at_capacity_message(target))
    db.session.add(ChatEvent(chat_id=chat.id, kind="transferred", actor_id=actor.id, details={
        "reason": "transfer", "operator_id": previous, "to_operator_id": target.id,
        "to_queue_id": chat.queue_id, "comment": comment}))
    db.session.flush()
    db.session.refresh(chat)
    db.session.commit()
    live.chat_requeued(chat, previous, announce=False)
    live.chat_taken(chat)
    if previous:
        from .chats import enqueue_routing_for
        enqueue_routing_for(previous)  # room freed up in the previous operator's queues
    return chat


# -- timers ---------------------------------------------------------------------------------
def expire_offer(chat_id: int, now: datetime | None = None, *, then_route: bool = True) -> bool:
    """The offer's deadline passed: the chat goes to the next operator."""
    from . import live
    chat = db.session.get(Chat, chat_id)
    if chat is None or chat.status != "offered" or chat.offered_to_id is None:
        return False
    user_id = chat.offered_to_id
    if not _release_offer(chat, user_id, kind="offer_expired", now=now or utcnow()):
        db.session.rollback()
        return False
    db.session.commit()
    live.chat_waiting(chat, new=False)
    if then_route:
        route([chat.queue_id])
    return True


def run_timers(now: datetime | None = None) -> dict:
    """Every deadline that has passed, in one sweep. Safe to run in several workers:
    each change is a conditional UPDATE."""
    now = now or utcnow()
    found = {"offers": 0, "unoffered": 0, "unanswered": 0, "disconnected": 0, "inactive": 0}
    expired = db.session.execute(db.select(Chat.id, Chat.queue_id).where(
        Chat.status == "offered", Chat.offered_to_id.is_not(None),
        Chat.offer_expires_at <= now).limit(500)).all()
    db.session.rollback()
    for chat_id, _queue_id in expired:
        found["offers"] += expire_offer(chat_id, now, then_route=False)
    if expired:
        route({queue_id for _chat_id, queue_id in expired})  # once per queue
    # Manual offers to "everyone Active" when the last one left at the same moment as
    # another (each saw the other still there).
    unoffered = unoffer_if_nobody_active(db.session.scalars(db.select(ChatQueue.id)).all())
    db.session.commit()
    if unoffered:
        from . import live
        for chat in unoffered:
            live.chat_waiting(chat, new=False)
    found["unoffered"] = len(unoffered)
    found["unanswered"] = _answer_timeouts(now)
    found["disconnected"] = _disconnected_operators(now)
    found["inactive"] = _inactivity_closes(now)
    return found


def _answer_timeouts(now: datetime) -> int:
    queues = list(db.session.scalars(db.select(ChatQueue).where(
        ChatQueue.answer_timeout_minutes.is_not(None), ChatQueue.answer_timeout_minutes > 0)))
    moved = []
    for queue in queues:
        cutoff = now - timedelta(minutes=queue.answer_timeout_minutes)
        stale = list(db.session.scalars(db.select(Chat).where(
            Chat.queue_id == queue.id, Chat.status == "active",
            Chat.awaiting_since.is_not(None), Chat.awaiting_since <= cutoff,
            Chat.accepted_at <= cutoff).limit(200)))
        target = queue.fallback_queue or queue
        for chat in stale:
            # Only if still unanswered and still theirs: a reply or a transfer since we
            # read the list wins.
            previous = requeue(chat, kind="answer_timeout", reason="unanswered",
                               to_queue=target, skip_user=chat.assignee_id,
                               conditions=(Chat.awaiting_since <= cutoff,
                                           Chat.accepted_at <= cutoff))
            if previous is not NOT_MOVED:
                moved.append((chat, previous))
    db.session.commit()
    after_requeue(moved)
    return len(moved)


def _disconnected_operators(now: datetime) -> int:
    """Operators who are Active or Away with no open workspace tab for the queue's
    `disconnect_minutes`: set Offline, and their chats go back to the queue."""
    from . import users
    rows = db.session.execute(
        db.select(User, func.min(ChatQueue.disconnect_minutes))
        .join(queue_members, queue_members.c.user_id == User.id)
        .join(ChatQueue, ChatQueue.id == queue_members.c.queue_id)
        .where(User.presence.in_(("active", "away")))
        .group_by(User.id)).all()
    count = 0
    for user, minutes in rows:
        cutoff = now - timedelta(minutes=minutes or 5)
        seen = max(user.last_connected_at or user.presence_changed_at,
                   user.presence_changed_at)
        if seen <= cutoff:
            # Re-checked in the UPDATE: a tab that reconnected meanwhile keeps them in.
            count += users.set_presence(user, "offline", reason="disconnected",
                                        disconnected_before=cutoff)
    db.session.rollback()
    return count


def _inactivity_closes(now: datetime) -> int:
    from . import chats as chat_service
    queues = list(db.session.scalars(db.select(ChatQueue).where(
        ChatQueue.inactivity_close_minutes.is_not(None), ChatQueue.inactivity_close_minutes > 0)))
    count = 0
    for queue in queues:
        cutoff = now - timedelta(minutes=queue.inactivity_close_minutes)
        quiet = list(db.session.scalars(db.select(Chat.id).where(
            Chat.queue_id == queue.id, Chat.status.in_(("queued", "offered", "active")),
            func.coalesce(Chat.last_inbound_at, Chat.created_at) <= cutoff).limit(200)))
        db.session.rollback()
        for chat_id in quiet:
            count += chat_service.close_inactive(chat_id, queue.inactivity_close_minutes,
                                                 queue.closing_message, now=now)
    return count
