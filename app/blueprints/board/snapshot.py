"""What the supervisor board shows, read in a fixed handful of queries whatever the size of
the team: queues, memberships, people, open chats (with their contacts and channels),
loads (`routing.loads_for`) and today's status log. Read-only: nothing here commits."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import selectinload

from ...extensions import db
from ...models import (CHAT_OPEN_STATUSES, Chat, ChatQueue, User, UserStatusLog, queue_members,
                       utcnow)
from ...services import routing, users

WAITING = ("queued", "offered")
PRESENCE_ORDER = {"active": 0, "away": 1, "offline": 2}


def start_of_day(now: datetime | None = None) -> datetime:
    """Today's midnight, UTC."""
    return (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)


def today_presence(user, now: datetime | None = None) -> dict[str, float]:
    """Seconds Active / Away / Offline since midnight UTC (the status log)."""
    now = now or utcnow()
    return users.presence_durations(user.id, start_of_day(now), now)


def presence_durations_for(user_ids, since: datetime, until: datetime) -> dict[int, dict]:
    """`users.presence_durations` for many operators at once (the same arithmetic)."""
    return users.presence_durations_many(user_ids, since, until)


@dataclass
class OperatorRow:
    user: User
    load: int
    chats: list[Chat] = field(default_factory=list)  # assigned, then offered to them alone
    queue_ids: list[int] = field(default_factory=list)
    queue_names: list[str] = field(default_factory=list)
    today: dict = field(default_factory=dict)

    @property
    def load_percent(self) -> int:
        if self.user.max_load <= 0:
            return 100 if self.load else 0
        return min(100, round(100 * self.load / self.user.max_load))

    @property
    def is_full(self) -> bool:
        return self.load >= self.user.max_load


@dataclass
class QueueRow:
    queue: ChatQueue
    waiting: list[Chat] = field(default_factory=list)  # oldest first
    in_progress: int = 0
    members: list[OperatorRow] = field(default_factory=list)

    @property
    def active_members(self) -> list[OperatorRow]:
        return [m for m in self.members if m.user.presence == "active"]

    @property
    def longest_since(self):
        return min((c.created_at for c in self.waiting), default=None)


@dataclass
class Board:
    now: datetime
    queues: list[QueueRow]
    operators: list[OperatorRow]
    by_user: dict[int, OperatorRow]
    all_queues: list[ChatQueue]

    @property
    def waiting_total(self) -> int:
        return sum(len(q.waiting) for q in self.queues)

    @property
    def longest_since(self):
        return min((q.longest_since for q in self.queues if q.longest_since), default=None)

    @property
    def in_progress_total(self) -> int:
        return sum(q.in_progress for q in self.queues)

    @property
    def active_total(self) -> int:
        return sum(1 for o in self.operators if o.user.presence == "active")

    @property
    def free_capacity(self) -> int:
        """Chat slots still free among Active operators."""
        return sum(max(0, o.user.max_load - o.load) for o in self.operators
                   if o.user.presence == "active")

    def members_of(self, queue_id: int) -> list[OperatorRow]:
        return next((q.members for q in self.queues if q.queue.id == queue_id), [])


def build(now: datetime | None = None) -> Board:
    now = now or utcnow()
    all_queues = list(db.session.scalars(db.select(ChatQueue).order_by(ChatQueue.name)))
    memberships = db.session.execute(
        db.select(queue_members.c.queue_id, queue_members.c.user_id)).all()
    people = list(db.session.scalars(
        db.select(User).where(User.is_enabled.is_(True)).order_by(User.name, User.id)))
    open_chats = list(db.session.scalars(
        db.select(Chat).where(Chat.status.in_(CHAT_OPEN_STATUSES))
        .options(selectinload(Chat.contact), selectinload(Chat.channel))
        .order_by(Chat.created_at, Chat.id)))

    member_ids: dict[int, list[int]] = {}
    queues_of: dict[int, list[int]] = {}
    for queue_id, user_id in memberships:
        member_ids.setdefault(queue_id, []).append(user_id)
        queues_of.setdefault(user_id, []).append(queue_id)

    holders = {c.assignee_id for c in open_chats if c.status == "active"} | \
        {c.offered_to_id for c in open_chats if c.status == "offered"}
    # Who the board lists: operators, and anyone else who is in a queue or holds a chat.
    shown = [u for u in people if u.role == "operator" or u.id in queues_of or u.id in holders]
    loads = routing.loads_for(u.id for u in shown)
    today = presence_durations_for([u.id for u in shown], start_of_day(now), now)
    names = {q.id: q.name for q in all_queues}
    rows = [OperatorRow(user=u, load=loads[u.id], queue_ids=queues_of.get(u.id, []),
                        queue_names=sorted(names[qid] for qid in queues_of.get(u.id, [])),
                        today=today[u.id]) for u in shown]
    by_user = {r.user.id: r for r in rows}

    queue_rows = {q.id: QueueRow(queue=q) for q in all_queues}
    for chat in open_chats:
        qrow = queue_rows.get(chat.queue_id)
        if chat.status in WAITING and qrow is not None:
            qrow.waiting.append(chat)
        if chat.status == "active":
            if qrow is not None:
                qrow.in_progress += 1
            if chat.assignee_id in by_user:
                by_user[chat.assignee_id].chats.append(chat)
    for chat in open_chats:  # offers held for one operator count in their load: list them last
        if chat.status == "offered" and chat.offered_to_id in by_user:
            by_user[chat.offered_to_id].chats.append(chat)
    for queue_id, qrow in queue_rows.items():
        qrow.members = sorted((by_user[uid] for uid in member_ids.get(queue_id, [])
                               if uid in by_user),
                              key=lambda r: (PRESENCE_ORDER.get(r.user.presence, 3), r.user.name))
    return Board(now=now, queues=list(queue_rows.values()), operators=rows, by_user=by_user,
                 all_queues=all_queues)
