"""Working hours of a queue: is it open now, when does it open next, and are the
supervisor's hours and holidays possible at all.

Pure functions of a queue-like object (anything with `hours_enabled`, `timezone`, `hours`
and `holidays`): no request, no database session, no commit. Hours are wall-clock times in
the queue's IANA time zone, so "09:00-18:00" stays 09:00-18:00 across a DST change; a
closing time of "24:00" means midnight at the end of the day. Holidays are closed all day,
both ends included, in the queue's zone.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_datetime as babel_format_datetime
from flask_babel import gettext as _

UTC = timezone.utc
SEARCH_DAYS = 366
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
END_OF_DAY = "24:00"


# -- time zones ---------------------------------------------------------------------------
# Names the zone database ships that are not time zones a person would pick: "localtime"
# means the server's own zone, "Factory" is a placeholder.
NOT_ZONES = {"localtime", "Factory", "posixrules"}


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, sorted (for the form's datalist)."""
    return tuple(sorted(name for name in available_timezones() if name not in NOT_ZONES
                        and not name.startswith(("posix/", "right/"))))


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(timezone_names())


def is_valid_timezone(name: str | None) -> bool:
    # Only names from the IANA list: ZoneInfo() would also accept file-system-ish keys
    # such as "localtime", which mean different things on different servers.
    if not name or name not in _known_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _zone(queue) -> ZoneInfo:
    try:
        return ZoneInfo(queue.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a bad stored zone must not take routing down


# -- validation ---------------------------------------------------------------------------
def weekday_name(day: int) -> str:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
            _("Saturday"), _("Sunday")][day]


def _parse_time(value, *, end: bool) -> time | None:
    """'HH:MM' -> time; '24:00' only as a closing time (-> time.max stands for midnight)."""
    if not isinstance(value, str):
        return None
    if end and value == END_OF_DAY:
        return time.max
    m = TIME_RE.match(value)
    return time(int(m.group(1)), int(m.group(2))) if m else None


def validate_hours(hours) -> list[str]:
    """Readable problems with a weekly schedule {"0".."6": [["HH:MM", "HH:MM"], ...]}.

    Times are 24-hour "HH:MM"; a closing time must be after its opening time ("24:00" =
    midnight at the end of the day); intervals of one day must not overlap."""
    if not isinstance(hours, dict):
        return [_("The weekly schedule is malformed.")]
    problems = []
    for key in sorted(hours, key=str):
        if str(key) not in {str(d) for d in range(7)}:
            problems.append(_("“%(day)s” is not a day of the week.", day=key))
            continue
        day = weekday_name(int(key))
        intervals = hours[key]
        if not isinstance(intervals, list):
            problems.append(_("%(day)s: the opening hours are malformed.", day=day))
            continue
        parsed = []
        for interval in intervals:
            if not (isinstance(interval, (list, tuple)) and len(interval) == 2):
                problems.append(_("%(day)s: the opening hours are malformed.", day=day))
                continue
            start = _parse_time(interval[0], end=False)
            end = _parse_time(interval[1], end=True)
            if start is None and not interval[0]:
                problems.append(_("%(day)s: enter the opening time.", day=day))
            elif start is None:
                problems.append(_("%(day)s: “%(value)s” is not a time like 09:00.",
                                  day=day, value=interval[0]))
            if end is None and not interval[1]:
                problems.append(_("%(day)s: enter the closing time.", day=day))
            elif end is None:
                problems.append(_("%(day)s: “%(value)s” is not a time like 18:00.",
                                  day=day, value=interval[1]))
            if start is None or end is None:
                continue
            if end <= start:
                problems.append(_("%(day)s: the closing time must be after the opening time.",
                                  day=day))
                continue
            parsed.append((start, end))
        parsed.sort()
        for (_s1, e1), (s2, _e2) in zip(parsed, parsed[1:]):
            if s2 < e1:
                problems.append(_("%(day)s: the opening hours overlap.", day=day))
                break
    return problems


def validate_holidays(holidays) -> list[str]:
    """Readable problems with holidays given as (starts_on, ends_on, name): each must end
    on or after its first day, and no two may share a day."""
    problems, valid = [], []
    for start, end, name in holidays:
        label = name or (start.isoformat() if isinstance(start, date) else "?")
        if not isinstance(start, date) or not isinstance(end, date):
            problems.append(_("Holiday “%(name)s”: enter both dates.", name=label))
            continue
        if end < start:
            problems.append(_("Holiday “%(name)s” ends before it starts.", name=label))
            continue
        if name and len(name) > 120:
            problems.append(_("Holiday “%(name)s”: the name is too long (120 characters at most).",
                              name=name[:30] + "…"))
        valid.append((start, end, label))
    valid.sort(key=lambda h: (h[0], h[1]))
    for (s1, e1, n1), (s2, e2, n2) in zip(valid, valid[1:]):
        if s2 <= e1:
            problems.append(_("Holidays “%(first)s” and “%(second)s” overlap.",
                              first=n1, second=n2))
    return problems


# -- open / next opening ------------------------------------------------------------------
def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _instant(day: date, wall: time, zone: ZoneInfo, *, closing: bool) -> datetime:
    """The UTC moment the clock in `zone` first shows `wall` on `day`.

    Wall times that happen twice (autumn DST change) open at their first occurrence and
    close at their second; wall times that do not exist (spring change) mean the moment
    the clocks jump past them."""
    if wall == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    naive = datetime.combine(day, wall)
    candidate = naive.replace(tzinfo=zone, fold=1 if closing else 0).astimezone(UTC)
    if candidate.astimezone(zone).replace(tzinfo=None) == naive:
        return candidate
    # In a gap: find the jump between the two readings (at most a few hours apart).
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _is_holiday(queue, day: date) -> bool:
    return any(h.starts_on <= day <= h.ends_on for h in (queue.holidays or ()))


def _intervals(queue, day: date, zone: ZoneInfo):
    """The day's opening intervals as UTC instants, sorted; malformed entries skipped."""
    out = []
    for interval in (queue.hours or {}).get(str(day.weekday()), []) or []:
        try:
            start = _parse_time(interval[0], end=False)
            end = _parse_time(interval[1], end=True)
        except (TypeError, IndexError, KeyError):
            continue
        if start is None or end is None or end <= start:
            continue
        out.append((_instant(day, start, zone, closing=False),
                    _instant(day, end, zone, closing=True)))
    return sorted(out)


def is_open(queue, at: datetime) -> bool:
    """Is the queue within its working hours at `at` (aware; naive means UTC)?

    Always True when working hours are off."""
    if not queue.hours_enabled:
        return True
    zone = _zone(queue)
    at = _aware(at)
    day = at.astimezone(zone).date()
    if _is_holiday(queue, day):
        return False
    return any(start <= at < end for start, end in _intervals(queue, day, zone))


def next_opening(queue, at: datetime) -> datetime | None:
    """The next moment (aware, UTC) the queue opens: `at` itself if it is open then;
    None when working hours are off or nothing opens within a year."""
    if not queue.hours_enabled:
        return None
    zone = _zone(queue)
    at = _aware(at).astimezone(UTC)
    first_day = at.astimezone(zone).date()
    for offset in range(SEARCH_DAYS + 1):
        day = first_day + timedelta(days=offset)
        if _is_holiday(queue, day):
            continue
        for start, end in _intervals(queue, day, zone):
            if start <= at < end:
                return at
            if start > at:
                return start
    return None


def format_next_opening(queue, at: datetime, locale="en") -> str:
    """The next opening for a customer, e.g. "Monday 09:00 (Europe/Berlin)"; the date is
    added when it is a week or more away. Empty when it is unknown."""
    moment = next_opening(queue, at)
    if moment is None:
        return ""
    zone = _zone(queue)
    far = moment - _aware(at) >= timedelta(days=6)
    pattern = "EEEE d MMMM HH:mm" if far else "EEEE HH:mm"
    text = babel_format_datetime(moment, pattern, tzinfo=zone, locale=str(locale or "en"))
    return f"{text} ({zone.key})"
