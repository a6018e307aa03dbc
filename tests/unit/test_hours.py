"""Working hours: open/closed across a week, holidays, time zones and DST, the next
opening, and the validators the queue form uses. Pure functions: no app needed."""
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest

from app.services import hours

UTC = timezone.utc
WEEKDAYS_9_18 = {str(d): [["09:00", "18:00"]] for d in range(5)}


def queue(hours_map=None, tz="Europe/Berlin", holidays=(), enabled=True):
    return SimpleNamespace(
        hours_enabled=enabled, timezone=tz, hours=hours_map if hours_map is not None else {},
        holidays=[SimpleNamespace(starts_on=s, ends_on=e, name=n) for s, e, n in holidays])


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# -- is_open ------------------------------------------------------------------------------
@pytest.mark.parametrize("at, expected", [
    # Week of Monday 2025-03-03; Berlin is UTC+1 (CET) then.
    (utc(2025, 3, 3, 7, 59), False),   # Monday 08:59
    (utc(2025, 3, 3, 8, 0), True),     # Monday 09:00 opens
    (utc(2025, 3, 3, 16, 59), True),   # Monday 17:59
    (utc(2025, 3, 3, 17, 0), False),   # Monday 18:00 closed: closing time excluded
    (utc(2025, 3, 5, 12, 0), True),    # Wednesday 13:00
    (utc(2025, 3, 7, 16, 30), True),   # Friday 17:30
    (utc(2025, 3, 7, 17, 30), False),  # Friday 18:30
    (utc(2025, 3, 8, 9, 30), True),    # Saturday 10:30 (short day)
    (utc(2025, 3, 8, 13, 0), False),   # Saturday 14:00
    (utc(2025, 3, 9, 12, 0), False),   # Sunday
])
def test_is_open_across_a_week(at, expected):
    q = queue(dict(WEEKDAYS_9_18, **{"5": [["10:00", "14:00"]]}))
    assert hours.is_open(q, at) is expected


def test_several_intervals_in_a_day_and_midnight_closing():
    q = queue({"0": [["09:00", "12:00"], ["13:00", "24:00"]]}, tz="UTC")
    assert hours.is_open(q, utc(2025, 3, 3, 11, 59))
    assert not hours.is_open(q, utc(2025, 3, 3, 12, 30))  # lunch
    assert hours.is_open(q, utc(2025, 3, 3, 23, 59, 59))
    assert not hours.is_open(q, utc(2025, 3, 4, 0, 0))  # Tuesday: closed


def test_hours_off_means_always_open():
    q = queue({}, enabled=False, holidays=[(date(2025, 3, 3), date(2025, 3, 3), "x")])
    assert hours.is_open(q, utc(2025, 3, 3, 3, 0))
    assert hours.is_open(q, utc(2025, 3, 9, 12, 0))
    assert hours.next_opening(q, utc(2025, 3, 9, 12, 0)) is None


def test_naive_datetimes_are_utc():
    q = queue(WEEKDAYS_9_18)
    assert hours.is_open(q, datetime(2025, 3, 3, 8, 0))
    assert not hours.is_open(q, datetime(2025, 3, 3, 7, 59))


def test_holidays_are_closed_all_day_in_the_queue_zone():
    always = {str(d): [["00:00", "24:00"]] for d in range(7)}
    q = queue(always, holidays=[(date(2025, 12, 24), date(2025, 12, 26), "Christmas")])
    assert hours.is_open(q, utc(2025, 12, 23, 22, 59))      # 23rd 23:59 in Berlin
    assert not hours.is_open(q, utc(2025, 12, 23, 23, 30))  # 24th 00:30 in Berlin, 23rd in UTC
    assert not hours.is_open(q, utc(2025, 12, 25, 12, 0))
    assert not hours.is_open(q, utc(2025, 12, 26, 22, 59))  # 26th 23:59: last day included
    assert hours.is_open(q, utc(2025, 12, 26, 23, 0))       # 27th 00:00 in Berlin


def test_same_instant_different_time_zones():
    at = utc(2025, 3, 4, 15, 0)  # Tuesday
    assert hours.is_open(queue(WEEKDAYS_9_18, tz="Europe/London"), at)      # 15:00
    assert hours.is_open(queue(WEEKDAYS_9_18, tz="America/New_York"), at)   # 10:00
    assert not hours.is_open(queue(WEEKDAYS_9_18, tz="Asia/Tokyo"), at)     # 00:00 Wednesday
    assert not hours.is_open(queue(WEEKDAYS_9_18, tz="Pacific/Honolulu"), at)  # 05:00


def test_dst_change_keeps_wall_clock_hours():
    daily = {str(d): [["09:00", "17:00"]] for d in range(7)}
    q = queue(daily)  # Berlin: CET (UTC+1) until Sunday 2025-03-30 02:00, then CEST (UTC+2)
    assert not hours.is_open(q, utc(2025, 3, 29, 7, 30))  # Saturday 08:30 CET
    assert hours.is_open(q, utc(2025, 3, 29, 8, 0))       # Saturday 09:00 CET
    assert hours.is_open(q, utc(2025, 3, 30, 7, 30))      # Sunday 09:30 CEST
    assert not hours.is_open(q, utc(2025, 3, 30, 15, 0))  # Sunday 17:00 CEST
    assert hours.next_opening(q, utc(2025, 3, 29, 20, 0)) == utc(2025, 3, 30, 7, 0)
    # And back in autumn (Sunday 2025-10-26 03:00 CEST -> 02:00 CET).
    assert hours.next_opening(q, utc(2025, 10, 25, 20, 0)) == utc(2025, 10, 26, 8, 0)
    assert hours.is_open(q, utc(2025, 10, 26, 15, 59))
    assert not hours.is_open(q, utc(2025, 10, 26, 16, 0))


def test_opening_inside_the_spring_gap_opens_when_the_clocks_jump():
    # 02:30 does not exist in Berlin on 2025-03-30: the queue opens at the jump (03:00 CEST).
    q = queue({"6": [["02:30", "05:00"]]})
    assert hours.next_opening(q, utc(2025, 3, 29, 20, 0)) == utc(2025, 3, 30, 1, 0)
    assert not hours.is_open(q, utc(2025, 3, 30, 0, 59))
    assert hours.is_open(q, utc(2025, 3, 30, 1, 0))
    assert not hours.is_open(q, utc(2025, 3, 30, 3, 0))  # 05:00 CEST


# -- next_opening -------------------------------------------------------------------------
def test_next_opening_is_aware_utc_and_skips_the_weekend():
    q = queue(WEEKDAYS_9_18)
    nxt = hours.next_opening(q, utc(2025, 3, 7, 17, 30))  # Friday 18:30 Berlin
    assert nxt == utc(2025, 3, 10, 8, 0)                  # Monday 09:00 Berlin
    assert nxt.utcoffset().total_seconds() == 0


def test_next_opening_when_open_is_now_and_later_today():
    q = queue(WEEKDAYS_9_18)
    now = utc(2025, 3, 3, 10, 0)
    assert hours.next_opening(q, now) == now
    assert hours.next_opening(q, utc(2025, 3, 3, 6, 0)) == utc(2025, 3, 3, 8, 0)


def test_next_opening_skips_holidays():
    q = queue(WEEKDAYS_9_18, holidays=[(date(2025, 12, 24), date(2025, 12, 26), "Christmas"),
                                       (date(2025, 12, 29), date(2026, 1, 1), "New Year")])
    # Tuesday 23 Dec, 19:00 Berlin -> Wed-Fri holiday, weekend, Mon 29 - Thu 1 holiday.
    assert hours.next_opening(q, utc(2025, 12, 23, 18, 0)) == utc(2026, 1, 2, 8, 0)


def test_no_opening_within_a_year_is_none():
    assert hours.next_opening(queue({}), utc(2025, 3, 3)) is None
    closed_for_long = queue(WEEKDAYS_9_18, holidays=[(date(2025, 1, 1), date(2027, 1, 1), "")])
    assert hours.next_opening(closed_for_long, utc(2025, 3, 3)) is None


def test_format_next_opening_in_the_customers_language():
    q = queue(WEEKDAYS_9_18)
    friday_evening = utc(2025, 3, 7, 17, 30)
    assert hours.format_next_opening(q, friday_evening, "en") == "Monday 09:00 (Europe/Berlin)"
    assert hours.format_next_opening(q, friday_evening, "ru") == "понедельник 09:00 (Europe/Berlin)"
    far = queue(WEEKDAYS_9_18, holidays=[(date(2025, 3, 10), date(2025, 3, 21), "Closed")])
    assert hours.format_next_opening(far, friday_evening, "en") == \
        "Monday 24 March 09:00 (Europe/Berlin)"
    assert hours.format_next_opening(queue({}), friday_evening, "en") == ""


# -- validators ---------------------------------------------------------------------------
def test_validate_hours_accepts_a_normal_week():
    assert hours.validate_hours(WEEKDAYS_9_18) == []
    assert hours.validate_hours({"6": [["00:00", "24:00"]], "0": [["08:00", "12:00"],
                                                                   ["13:00", "17:30"]]}) == []
    assert hours.validate_hours({}) == []


@pytest.mark.parametrize("schedule, message", [
    ({"0": [["9am", "18:00"]]}, "Monday: “9am” is not a time like 09:00."),
    ({"1": [["09:00", "25:00"]]}, "Tuesday: “25:00” is not a time like 18:00."),
    ({"2": [["09:60", "18:00"]]}, "Wednesday: “09:60” is not a time like 09:00."),
    ({"3": [["24:00", "24:00"]]}, "Thursday: “24:00” is not a time like 09:00."),
    ({"4": [["18:00", "09:00"]]}, "Friday: the closing time must be after the opening time."),
    ({"5": [["09:00", "09:00"]]}, "Saturday: the closing time must be after the opening time."),
    ({"6": [["09:00", "13:00"], ["12:00", "18:00"]]}, "Sunday: the opening hours overlap."),
    ({"0": [["09:00"]]}, "Monday: the opening hours are malformed."),
    ({"0": "09:00-18:00"}, "Monday: the opening hours are malformed."),
    ({"7": [["09:00", "18:00"]]}, "“7” is not a day of the week."),
    ({"0": [["", "18:00"]]}, "Monday: enter the opening time."),
    ({"0": [["09:00", ""]]}, "Monday: enter the closing time."),
    ([["09:00", "18:00"]], "The weekly schedule is malformed."),
])
def test_validate_hours_refuses(schedule, message):
    assert message in hours.validate_hours(schedule)


def test_validate_holidays():
    ok = [(date(2025, 12, 24), date(2025, 12, 26), "Christmas"),
          (date(2025, 12, 27), date(2025, 12, 27), "Boxing day after"),  # adjacent is fine
          (date(2026, 1, 1), date(2026, 1, 1), "")]
    assert hours.validate_holidays(ok) == []
    assert hours.validate_holidays([(date(2025, 5, 2), date(2025, 5, 1), "May")]) == \
        ["Holiday “May” ends before it starts."]
    assert hours.validate_holidays([
        (date(2025, 12, 24), date(2025, 12, 26), "Christmas"),
        (date(2025, 12, 26), date(2025, 12, 31), "Winter break")]) == \
        ["Holidays “Christmas” and “Winter break” overlap."]
    assert hours.validate_holidays([(date(2025, 5, 1), None, "May")]) == \
        ["Holiday “May”: enter both dates."]


def test_time_zone_names():
    assert hours.is_valid_timezone("Europe/Berlin")
    assert hours.is_valid_timezone("UTC")
    for bad in ("Mars/Olympus", "", None, "../../etc/passwd", "localtime", "europe/berlin"):
        assert not hours.is_valid_timezone(bad)
    assert "America/New_York" in hours.timezone_names()
