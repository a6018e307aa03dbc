"""Chat queues: groups of operators that receive the chats of their channels, with their
distribution mode, timers, working hours and away message."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _

from sqlalchemy import update

from ..extensions import db
from ..models import ROUTING_MODES, Chat, ChatQueue, QueueHoliday, User
from . import hours as hours_service
from .errors import ServiceError

AUTO_MODES = ("round_robin", "least_loaded")

# The range of every number a supervisor sets for routing. The forms and the services
# read this one table, so the page and the database never disagree.
LIMITS = {
    "offer_timeout_seconds": (5, 600),
    "answer_timeout_minutes": (1, 1440),
    "disconnect_minutes": (1, 240),
    "inactivity_close_minutes": (1, 10080),
    "max_load": (1, 50),
    "chat_weight": (1, 10),
}
# Timers that may be empty, which turns them off.
OPTIONAL_TIMERS = ("answer_timeout_minutes", "inactivity_close_minutes")
MESSAGE_MAX = 1000
NAME_MAX = 120


class InvalidSettings(ServiceError):
    """Refused settings: each message is keyed by the form field it is about, so a form
    can show it in place. Nothing has been changed when this is raised."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__(next(iter(problems.values()))[0])
        self.problems = problems


def number_problem(name: str, value: int | None) -> str | None:
    """Why `value` is impossible for the routing number `name`, or None if it is fine."""
    low, high = LIMITS[name]
    if value is None:
        if name in OPTIONAL_TIMERS:
            return None
        return _("Enter a whole number.")
    if low <= value <= high:
        return None
    if name == "offer_timeout_seconds":
        if value <= 0:
            return _("A timer cannot be zero or negative: enter %(min)s to %(max)s seconds.",
                     min=low, max=high)
        return _("Enter %(min)s to %(max)s seconds.", min=low, max=high)
    if name in OPTIONAL_TIMERS:
        if value <= 0:
            return _("A timer cannot be zero or negative: enter %(min)s to %(max)s minutes, "
                     "or leave the field empty to turn it off.", min=low, max=high)
        return _("Enter %(min)s to %(max)s minutes, or leave the field empty to turn it off.",
                 min=low, max=high)
    if name == "disconnect_minutes":
        if value <= 0:
            return _("A timer cannot be zero or negative: enter %(min)s to %(max)s minutes.",
                     min=low, max=high)
        return _("Enter %(min)s to %(max)s minutes.", min=low, max=high)
    if name == "max_load":
        if value <= 0:
            return _("An operator must be able to hold at least one chat: enter %(min)s to "
                     "%(max)s.", min=low, max=high)
        return _("Enter %(min)s to %(max)s chats.", min=low, max=high)
    # chat_weight
    if value <= 0:
        return _("A chat must count for something: enter %(min)s to %(max)s.",
                 min=low, max=high)
    return _("Enter %(min)s to %(max)s.", min=low, max=high)


@dataclass
class QueueSettings:
    """Everything about a queue besides its name and members (defaults = the model's)."""

    routing_mode: str = "manual"
    offer_timeout_seconds: int | None = 30
    answer_timeout_minutes: int | None = 10
    fallback_queue_id: int | None = None
    disconnect_minutes: int | None = 5
    inactivity_close_minutes: int | None = None
    closing_message: str = ""
    hours_enabled: bool = False
    timezone: str = "UTC"
    hours: dict = field(default_factory=dict)
    # (starts_on, ends_on, name), both ends included
    holidays: list[tuple[date, date, str]] = field(default_factory=list)
    offline_message: str = ""
    ask_email_offline: bool = False

    @classmethod
    def of(cls, queue: ChatQueue) -> QueueSettings:
        return cls(routing_mode=queue.routing_mode,
                   offer_timeout_seconds=queue.offer_timeout_seconds,
                   answer_timeout_minutes=queue.answer_timeout_minutes,
                   fallback_queue_id=queue.fallback_queue_id,
                   disconnect_minutes=queue.disconnect_minutes,
                   inactivity_close_minutes=queue.inactivity_close_minutes,
                   closing_message=queue.closing_message or "",
                   hours_enabled=bool(queue.hours_enabled), timezone=queue.timezone or "UTC",
                   hours=dict(queue.hours or {}),
                   holidays=[(h.starts_on, h.ends_on, h.name) for h in queue.holidays],
                   offline_message=queue.offline_message or "",
                   ask_email_offline=bool(queue.ask_email_offline))


def mode_label(mode: str) -> str:
    return {"manual": _("Manual"), "round_robin": _("Round robin"),
            "least_loaded": _("Least loaded")}.get(mode, mode)


def _enabled_count(member_ids) -> int:
    ids = list(member_ids or [])
    if not ids:
        return 0
    return db.session.scalar(db.select(db.func.count(User.id)).where(
        User.id.in_(ids), User.is_enabled.is_(True))) or 0


def settings_problems(settings: QueueSettings, *, queue_id: int | None,
                      member_ids) -> dict[str, list[str]]:
    """Every reason these settings are impossible, keyed by field; empty when they are
    fine. Reads the database (the fallback queue, the members) but changes nothing."""
    problems: dict[str, list[str]] = {}

    def refuse(name, message):
        problems.setdefault(name, []).append(message)

    if settings.routing_mode not in ROUTING_MODES:
        refuse("routing_mode", _("Choose how chats are distributed."))
    elif settings.routing_mode in AUTO_MODES and _enabled_count(member_ids) == 0:
        refuse("routing_mode", _("%(mode)s needs at least one member: with no members nobody "
                                 "could ever get this queue’s chats. Add members or choose "
                                 "Manual.", mode=mode_label(settings.routing_mode)))
    for name in LIMITS:
        if hasattr(settings, name):
            message = number_problem(name, getattr(settings, name))
            if message:
                refuse(name, message)
    if settings.fallback_queue_id:
        if queue_id is not None and settings.fallback_queue_id == queue_id:
            refuse("fallback_queue_id", _("A queue cannot be its own fallback: choose another "
                                          "queue or none."))
        elif db.session.get(ChatQueue, settings.fallback_queue_id) is None:
            refuse("fallback_queue_id", _("This queue does not exist any more."))
    for name in ("closing_message", "offline_message"):
        if len(getattr(settings, name) or "") > MESSAGE_MAX:
            refuse(name, _("At most %(max)s characters.", max=MESSAGE_MAX))
    if not hours_service.is_valid_timezone(settings.timezone):
        refuse("timezone", _("“%(zone)s” is not a time zone. Pick one from the list, e.g. "
                             "Europe/Berlin.", zone=settings.timezone or ""))
    for message in hours_service.validate_hours(settings.hours):
        refuse("hours", message)
    if settings.hours_enabled and "hours" not in problems and not any(
            settings.hours.get(str(day)) for day in range(7)):
        refuse("hours", _("Working hours are on, but no day is open: the queue would never "
                          "open. Open at least one day, or turn working hours off."))
    for message in hours_service.validate_holidays(settings.holidays):
        refuse("holidays", message)
    return problems


def settings_warnings(settings: QueueSettings, member_ids) -> list[str]:
    """Possible but probably unintended settings, shown to the supervisor after saving."""
    warnings = []
    if settings.routing_mode == "manual" and _enabled_count(member_ids) == 0:
        warnings.append(_("This queue has no members yet: nobody sees its chats until you "
                          "add some."))
    if settings.fallback_queue_id and settings.answer_timeout_minutes is None:
        warnings.append(_("The fallback queue is only used when the answer timeout is on."))
    return warnings


def save_queue(queue: ChatQueue | None, name: str, member_ids: list[int],
               settings: QueueSettings | None = None) -> ChatQueue:
    """Create or update a queue. Without `settings`, a new queue gets the defaults and an
    existing one keeps its routing settings. Impossible settings raise InvalidSettings and
    change nothing."""
    name = (name or "").strip()
    member_ids = list(member_ids or [])
    if settings is None:
        settings = QueueSettings.of(queue) if queue is not None else QueueSettings()
    problems = settings_problems(settings, queue_id=queue.id if queue else None,
                                 member_ids=member_ids)
    if not name:
        problems.setdefault("name", []).append(_("Enter a name."))
    elif len(name) > NAME_MAX:
        problems.setdefault("name", []).append(_("At most %(max)s characters.", max=NAME_MAX))
    else:
        clash = db.session.scalar(db.select(ChatQueue.id).where(
            db.func.lower(ChatQueue.name) == name.lower()))
        if clash and (queue is None or clash != queue.id):
            problems.setdefault("name", []).append(_("A queue with this name already exists."))
    if problems:
        raise InvalidSettings(problems)
    if queue is None:
        queue = ChatQueue()
        db.session.add(queue)
    queue.name = name
    queue.members = list(db.session.scalars(db.select(User).where(User.id.in_(member_ids))))
    queue.routing_mode = settings.routing_mode
    queue.offer_timeout_seconds = settings.offer_timeout_seconds
    queue.answer_timeout_minutes = settings.answer_timeout_minutes
    queue.fallback_queue_id = settings.fallback_queue_id or None
    queue.disconnect_minutes = settings.disconnect_minutes
    queue.inactivity_close_minutes = settings.inactivity_close_minutes
    queue.closing_message = (settings.closing_message or "").strip()
    queue.hours_enabled = bool(settings.hours_enabled)
    queue.timezone = settings.timezone
    queue.hours = {str(day): [list(i) for i in intervals]
                   for day, intervals in sorted(settings.hours.items()) if intervals}
    _replace_holidays(queue, settings.holidays)
    queue.offline_message = (settings.offline_message or "").strip()
    queue.ask_email_offline = bool(settings.ask_email_offline)
    db.session.flush()
    from . import routing
    if queue.routing_mode != "manual":
        # Chats offered to "everyone" under manual mode wait again, to be handed out
        # one operator at a time now.
        db.session.execute(update(Chat).where(
            Chat.queue_id == queue.id, Chat.status == "offered", Chat.offered_to_id.is_(None),
            Chat.assignee_id.is_(None)).values(status="queued")
            .execution_options(synchronize_session=False))
    db.session.commit()
    routing.route([queue.id])  # new members, another mode: hand out what waits
    return queue


def _replace_holidays(queue: ChatQueue, holidays) -> None:
    wanted = sorted((start, end, (name or "").strip()) for start, end, name in holidays)
    if wanted == [(h.starts_on, h.ends_on, h.name) for h in queue.holidays]:
        return
    queue.holidays = [QueueHoliday(starts_on=start, ends_on=end, name=name)
                      for start, end, name in wanted]


def delete_queue(queue: ChatQueue) -> None:
    if queue.channels:
        raise ServiceError(_("Channels still use this queue; move them to another queue first."))
    from ..models import Chat
    if db.session.scalar(db.select(Chat.id).where(Chat.queue_id == queue.id).limit(1)):
        raise ServiceError(_("This queue cannot be deleted: it has chats, and they keep it for their history."))
    db.session.delete(queue)
    db.session.commit()
