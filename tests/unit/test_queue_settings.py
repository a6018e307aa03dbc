"""Routing settings in the console: the queue form (every field saved, every impossible
value refused in place with nothing saved), an operator's max load and a channel's chat
weight."""
import html
import re
from datetime import date

import pytest

from app.extensions import db
from app.models import Channel, ChatQueue, QueueHoliday, User
from app.services import queues, users
from app.services.queues import InvalidSettings, QueueSettings


def week_form(days=range(5), opens="09:00", closes="18:00"):
    data = {}
    for d in range(7):
        if d in days:
            data[f"day{d}_open"] = "y"
        data[f"day{d}_opens"], data[f"day{d}_closes"] = opens, closes
    return data


def queue_form(org, **overrides):
    """Everything the queue page posts for Support, valid, with `overrides` (None = left
    out)."""
    data = {
        "name": "Support", "members": [org.olga.id, org.oleg.id], "routing_mode": "least_loaded",
        "offer_timeout_seconds": "45", "answer_timeout_minutes": "15",
        "fallback_queue_id": str(org.sales.id), "disconnect_minutes": "7",
        "inactivity_close_minutes": "120", "closing_message": "Closing this chat, bye!",
        "hours_enabled": "y", "timezone": "Europe/Berlin",
        **week_form(),
        "day5_open": "y", "day5_opens": "10:00", "day5_closes": "00:00",  # until midnight
        "holidays-0-name": "Christmas", "holidays-0-starts_on": "2025-12-24",
        "holidays-0-ends_on": "2025-12-26",
        "holidays-1-name": "New Year", "holidays-1-starts_on": "2026-01-01",
        "holidays-1-ends_on": "",  # one day
        "holidays-2-name": "", "holidays-2-starts_on": "", "holidays-2-ends_on": "",  # ignored
        "offline_message": "We are away. Back {next_open}.", "ask_email_offline": "y",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def snapshot(queue_id):
    """The stored queue as plain values, read fresh from the database."""
    db.session.expire_all()
    q = db.session.get(ChatQueue, queue_id)
    return {
        "name": q.name, "members": sorted(u.id for u in q.members),
        "routing_mode": q.routing_mode, "offer": q.offer_timeout_seconds,
        "answer": q.answer_timeout_minutes, "fallback": q.fallback_queue_id,
        "disconnect": q.disconnect_minutes, "inactivity": q.inactivity_close_minutes,
        "closing": q.closing_message, "hours_enabled": q.hours_enabled, "tz": q.timezone,
        "hours": q.hours, "holidays": [(h.starts_on, h.ends_on, h.name) for h in q.holidays],
        "offline": q.offline_message, "ask_email": q.ask_email_offline,
    }


def page_text(resp):
    return html.unescape(resp.get_data(as_text=True))


def input_value(page, name):
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', page).group(0)
    return re.search(r'\bvalue="([^"]*)"', tag).group(1)


# -- saving -------------------------------------------------------------------------------
def test_every_routing_field_is_saved(app, org, login):
    admin = login(org.admin)
    resp = admin.post(f"/settings/queues/{org.support.id}", queue_form(org))
    assert resp.status_code == 302, page_text(resp)[:3000]
    saved = snapshot(org.support.id)
    assert saved == {
        "name": "Support", "members": sorted([org.olga.id, org.oleg.id]),
        "routing_mode": "least_loaded", "offer": 45, "answer": 15, "fallback": org.sales.id,
        "disconnect": 7, "inactivity": 120, "closing": "Closing this chat, bye!",
        "hours_enabled": True, "tz": "Europe/Berlin",
        "hours": {"0": [["09:00", "18:00"]], "1": [["09:00", "18:00"]],
                  "2": [["09:00", "18:00"]], "3": [["09:00", "18:00"]],
                  "4": [["09:00", "18:00"]], "5": [["10:00", "24:00"]]},
        "holidays": [(date(2025, 12, 24), date(2025, 12, 26), "Christmas"),
                     (date(2026, 1, 1), date(2026, 1, 1), "New Year")],
        "offline": "We are away. Back {next_open}.", "ask_email": True,
    }
    # The page shows it all back, midnight as 00:00 in the time input.
    page = page_text(admin.get(f"/settings/queues/{org.support.id}"))
    assert '<input checked id="routing_mode-2" name="routing_mode" type="radio" ' \
        'value="least_loaded">' in page
    assert input_value(page, "day5_closes") == "00:00"
    assert 'value="Christmas"' in page and 'value="2025-12-24"' in page
    assert "We are away. Back {next_open}." in page
    assert "Europe/Berlin" in page
    # The list shows mode, members and hours.
    listing = page_text(admin.get("/settings/queues"))
    assert "Least loaded" in listing and "Olga Operator" in listing and "Europe/Berlin" in listing


def test_timers_can_be_turned_off_and_holidays_removed(app, org, login):
    admin = login(org.admin)
    admin.post(f"/settings/queues/{org.support.id}", queue_form(org))
    resp = admin.post(f"/settings/queues/{org.support.id}", queue_form(
        org, answer_timeout_minutes="", inactivity_close_minutes="", fallback_queue_id="0",
        hours_enabled=None, ask_email_offline=None, routing_mode="round_robin",
        **{"holidays-0-name": "", "holidays-0-starts_on": "", "holidays-0-ends_on": ""}))
    assert resp.status_code == 302, page_text(resp)[:3000]
    saved = snapshot(org.support.id)
    assert saved["answer"] is None and saved["inactivity"] is None and saved["fallback"] is None
    assert saved["hours_enabled"] is False and saved["ask_email"] is False
    assert saved["routing_mode"] == "round_robin"
    assert saved["holidays"] == [(date(2026, 1, 1), date(2026, 1, 1), "New Year")]
    assert db.session.scalar(db.select(db.func.count(QueueHoliday.id))) == 1


def test_new_queue_with_all_settings(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/queues/new", queue_form(org, name="VIP"))
    assert resp.status_code == 302, page_text(resp)[:3000]
    vip = db.session.scalar(db.select(ChatQueue).where(ChatQueue.name == "VIP"))
    assert snapshot(vip.id)["routing_mode"] == "least_loaded"
    assert snapshot(vip.id)["fallback"] == org.sales.id


def test_manual_queue_without_members_is_allowed_with_a_warning(app, org, login):
    admin = login(org.admin)
    resp = admin.post(f"/settings/queues/{org.support.id}",
                      queue_form(org, members=None, routing_mode="manual"))
    assert resp.status_code == 302
    assert snapshot(org.support.id)["members"] == []
    listing = page_text(admin.get(resp.location))
    assert "This queue has no members yet: nobody sees its chats until you add some." in listing
    page = page_text(admin.get(f"/settings/queues/{org.support.id}"))
    assert "This queue has no members yet" in page


# -- refusals -----------------------------------------------------------------------------
BAD_INPUTS = [
    ({"offer_timeout_seconds": "0"}, "A timer cannot be zero or negative: enter 5 to 600 seconds."),
    ({"offer_timeout_seconds": "-5"}, "A timer cannot be zero or negative: enter 5 to 600 seconds."),
    ({"offer_timeout_seconds": "4"}, "Enter 5 to 600 seconds."),
    ({"offer_timeout_seconds": "601"}, "Enter 5 to 600 seconds."),
    ({"offer_timeout_seconds": "ten"}, "Enter a whole number."),
    ({"offer_timeout_seconds": ""}, "Enter a whole number."),
    ({"answer_timeout_minutes": "0"}, "A timer cannot be zero or negative: enter 1 to 1440 "
                                      "minutes, or leave the field empty to turn it off."),
    ({"answer_timeout_minutes": "1441"}, "Enter 1 to 1440 minutes, or leave the field empty "
                                         "to turn it off."),
    ({"disconnect_minutes": "0"}, "A timer cannot be zero or negative: enter 1 to 240 minutes."),
    ({"disconnect_minutes": "-1"}, "A timer cannot be zero or negative: enter 1 to 240 minutes."),
    ({"disconnect_minutes": "241"}, "Enter 1 to 240 minutes."),
    ({"disconnect_minutes": "1.5"}, "Enter a whole number."),
    ({"inactivity_close_minutes": "-30"}, "A timer cannot be zero or negative: enter 1 to 10080 "
                                          "minutes, or leave the field empty to turn it off."),
    ({"inactivity_close_minutes": "10081"}, "Enter 1 to 10080 minutes, or leave the field empty "
                                            "to turn it off."),
    ({"closing_message": "x" * 1001}, "At most 1000 characters."),
    ({"offline_message": "x" * 1001}, "At most 1000 characters."),
    ({"timezone": "Mars/Olympus"}, "“Mars/Olympus” is not a time zone."),
    ({"timezone": "localtime"}, "“localtime” is not a time zone."),
    ({"timezone": ""}, "Pick a time zone."),
    ({"day0_opens": "9am"}, "Monday: “9am” is not a time like 09:00."),
    ({"day1_closes": "25:00"}, "Tuesday: “25:00” is not a time like 18:00."),
    ({"day2_opens": ""}, "Wednesday: enter the opening time."),
    ({"day3_closes": "08:00"}, "Thursday: the closing time must be after the opening time."),
    ({"day4_opens": "18:00"}, "Friday: the closing time must be after the opening time."),
    ({"holidays-0-ends_on": "2025-12-20"}, "Holiday “Christmas” ends before it starts."),
    ({"holidays-1-starts_on": "2025-12-26", "holidays-1-ends_on": "2026-01-02"},
     "Holidays “Christmas” and “New Year” overlap."),
    ({"holidays-2-name": "Boxing day", "holidays-2-starts_on": "2025-12-25"},
     "Holidays “Christmas” and “Boxing day” overlap."),
    ({"holidays-0-starts_on": "2025-13-01"}, "Enter a date like 2025-12-31."),
    ({"holidays-2-name": "Someday"}, "Enter the first day."),
    ({"routing_mode": "round_robin", "members": None},
     "Round robin needs at least one member: with no members nobody could ever get this "
     "queue’s chats. Add members or choose Manual."),
    ({"routing_mode": "least_loaded", "members": None},
     "Least loaded needs at least one member"),
    ({"hours_enabled": "y", **{f"day{d}_open": None for d in range(7)}},
     "Working hours are on, but no day is open: the queue would never open."),
    ({"fallback_queue_id": "9999"}, "This queue does not exist any more."),
    ({"name": ""}, "This field is required."),
    ({"name": "sales"}, "A queue with this name already exists."),
]


@pytest.mark.parametrize("overrides, message", BAD_INPUTS,
                         ids=[next(iter(o)) + "=" + str(next(iter(o.values())))[:12]
                              for o, _m in BAD_INPUTS])
def test_impossible_settings_are_refused_in_place(app, org, login, overrides, message):
    admin = login(org.admin)
    before = snapshot(org.support.id)
    resp = admin.post(f"/settings/queues/{org.support.id}", queue_form(org, **overrides))
    assert resp.status_code == 400
    page = page_text(resp)
    assert message in page
    assert 'class="error"' in page
    assert snapshot(org.support.id) == before
    assert db.session.scalar(db.select(db.func.count(QueueHoliday.id))) == 0


def test_a_queue_cannot_be_its_own_fallback(app, org, login):
    admin = login(org.admin)
    before = snapshot(org.support.id)
    page = page_text(admin.get(f"/settings/queues/{org.support.id}"))
    assert f'<option value="{org.support.id}"' not in page  # not even offered
    assert f'<option value="{org.sales.id}"' in page
    resp = admin.post(f"/settings/queues/{org.support.id}",
                      queue_form(org, fallback_queue_id=str(org.support.id)))
    assert resp.status_code == 400
    assert "A queue cannot be its own fallback: choose another queue or none." in page_text(resp)
    assert snapshot(org.support.id) == before


def test_several_mistakes_are_all_shown_at_once(app, org, login):
    admin = login(org.admin)
    resp = admin.post(f"/settings/queues/{org.support.id}", queue_form(
        org, offer_timeout_seconds="0", timezone="Nowhere", day0_closes="08:00",
        fallback_queue_id=str(org.support.id)))
    assert resp.status_code == 400
    page = page_text(resp)
    for message in ("enter 5 to 600 seconds", "“Nowhere” is not a time zone",
                    "Monday: the closing time must be after the opening time.",
                    "A queue cannot be its own fallback"):
        assert message in page


def test_new_queue_refused_is_not_created(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/queues/new",
                      queue_form(org, name="VIP", routing_mode="round_robin", members=None))
    assert resp.status_code == 400
    assert db.session.scalar(db.select(ChatQueue).where(ChatQueue.name == "VIP")) is None


def test_service_refuses_impossible_settings_too(app, org):
    before = snapshot(org.support.id)
    with pytest.raises(InvalidSettings) as exc:
        queues.save_queue(org.support, "Support", [], QueueSettings(
            routing_mode="round_robin", offer_timeout_seconds=0, timezone="Nowhere",
            fallback_queue_id=org.support.id, hours={"0": [["10:00", "09:00"]]},
            holidays=[(date(2025, 1, 2), date(2025, 1, 1), "Oops")]))
    assert set(exc.value.problems) == {"routing_mode", "offer_timeout_seconds", "timezone",
                                       "fallback_queue_id", "hours", "holidays"}
    assert snapshot(org.support.id) == before
    # Without settings, an auto queue still may not lose its last member.
    queues.save_queue(org.sales, "Sales", [org.sam.id], QueueSettings(routing_mode="round_robin"))
    with pytest.raises(InvalidSettings):
        queues.save_queue(org.sales, "Sales", [])
    db.session.rollback()
    assert snapshot(org.sales.id)["members"] == [org.sam.id]


def test_removing_the_last_member_of_an_auto_queue_is_refused(app, org, login):
    queues.save_queue(org.sales, "Sales", [org.sam.id], QueueSettings(routing_mode="round_robin"))
    admin = login(org.admin)
    resp = admin.post(f"/settings/users/{org.sam.id}", {
        "name": "Sam Sales", "email": "sam@example.com", "role": "operator", "language": "en",
        "max_load": "3"})
    assert resp.status_code == 400
    assert "Sam Sales is the only member of “Sales” (Round robin)" in page_text(resp)
    db.session.expire_all()
    assert [u.id for u in db.session.get(ChatQueue, org.sales.id).members] == [org.sam.id]


# -- operator max load --------------------------------------------------------------------
def user_form(**overrides):
    data = {"name": "Mia Operator", "email": "mia@example.com", "role": "operator",
            "language": "en", "password": "mia password 1", "max_load": "7"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_max_load_is_saved_and_listed(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/users/new", user_form())
    assert resp.status_code == 302, page_text(resp)[:2000]
    mia = db.session.scalar(db.select(User).where(User.email == "mia@example.com"))
    assert mia.max_load == 7
    resp = admin.post(f"/settings/users/{mia.id}", user_form(password="", max_load="12"))
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, mia.id).max_load == 12
    assert input_value(page_text(admin.get(f"/settings/users/{mia.id}")), "max_load") == "12"
    listing = page_text(admin.get("/settings/users"))
    assert "Max load" in listing and '<td class="right">12</td>' in listing
    # A new user gets 3 unless told otherwise.
    admin.post("/settings/users/new", user_form(email="max@example.com", max_load=None))
    assert db.session.scalar(db.select(User.max_load).where(User.email == "max@example.com")) == 3


@pytest.mark.parametrize("value, message", [
    ("0", "An operator must be able to hold at least one chat: enter 1 to 50."),
    ("-2", "An operator must be able to hold at least one chat: enter 1 to 50."),
    ("51", "Enter 1 to 50 chats."),
    ("", "Enter a whole number."),
    ("lots", "Enter a whole number."),
])
def test_impossible_max_load_is_refused(app, org, login, value, message):
    admin = login(org.admin)
    resp = admin.post(f"/settings/users/{org.olga.id}", user_form(
        name="Olga Operator", email="olga@example.com", password="", max_load=value))
    assert resp.status_code == 400
    assert message in page_text(resp)
    db.session.expire_all()
    assert db.session.get(User, org.olga.id).max_load == 3
    resp = admin.post("/settings/users/new", user_form(max_load=value))
    assert resp.status_code == 400
    assert message in page_text(resp)
    assert db.session.scalar(db.select(User).where(User.email == "mia@example.com")) is None


def test_service_refuses_impossible_max_load(app, org):
    with pytest.raises(InvalidSettings) as exc:
        users.create_user("Zed", "zed@example.com", "zed password 1", "operator", "en", [],
                          max_load=0)
    assert list(exc.value.problems) == ["max_load"]
    with pytest.raises(InvalidSettings):
        users.update_user(org.olga, name="Olga Operator", email="olga@example.com",
                          role="operator", language="en", queue_ids=[org.support.id],
                          password=None, actor=org.admin, max_load=99)
    db.session.rollback()
    assert db.session.get(User, org.olga.id).max_load == 3


# -- channel chat weight ------------------------------------------------------------------
def website_form(org, **overrides):
    data = {"name": "Main site", "queue": org.support.id, "origins": "https://shop.example",
            "greeting": "Hi", "color": "#4F46E5", "position": "right", "chat_weight": "3"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_website_chat_weight_is_saved(app, org, login):
    admin = login(org.admin)
    page = page_text(admin.get(f"/settings/channels/{org.channel.id}"))
    assert "How much one chat of this channel counts towards an operator’s load" in page
    resp = admin.post(f"/settings/channels/{org.channel.id}", website_form(org))
    assert resp.status_code == 302, page_text(resp)[:2000]
    db.session.expire_all()
    assert db.session.get(Channel, org.channel.id).chat_weight == 3
    assert input_value(page_text(admin.get(f"/settings/channels/{org.channel.id}")),
                       "chat_weight") == "3"
    # A new channel starts at 1 (its form does not ask).
    resp = admin.post("/settings/channels/new/website", website_form(org, name="Shop",
                                                                      chat_weight=None))
    assert resp.status_code == 302
    assert db.session.scalar(db.select(Channel.chat_weight).where(Channel.name == "Shop")) == 1


def telegram_channel(org):
    channel = Channel(kind="telegram", name="Shop bot", queue_id=org.support.id,
                      settings={"bot_id": "1", "bot_username": "shop_bot", "bot_name": "Shop"})
    db.session.add(channel)
    db.session.commit()
    return channel


def test_messenger_chat_weight_is_saved(app, org, login):
    channel = telegram_channel(org)
    admin = login(org.admin)
    resp = admin.post(f"/settings/channels/{channel.id}", {
        "name": "Shop bot", "queue": org.sales.id, "chat_weight": "10"})
    assert resp.status_code == 302, page_text(resp)[:2000]
    db.session.expire_all()
    saved = db.session.get(Channel, channel.id)
    assert (saved.chat_weight, saved.queue_id) == (10, org.sales.id)


@pytest.mark.parametrize("value, message", [
    ("0", "A chat must count for something: enter 1 to 10."),
    ("-1", "A chat must count for something: enter 1 to 10."),
    ("11", "Enter 1 to 10."),
    ("", "Enter a whole number."),
])
def test_impossible_chat_weight_is_refused(app, org, login, value, message):
    channel = telegram_channel(org)
    admin = login(org.admin)
    resp = admin.post(f"/settings/channels/{org.channel.id}", website_form(
        org, chat_weight=value, greeting="Changed"))
    assert resp.status_code == 400
    assert message in page_text(resp)
    resp = admin.post(f"/settings/channels/{channel.id}", {
        "name": "Renamed", "queue": org.support.id, "chat_weight": value})
    assert resp.status_code == 400
    assert message in page_text(resp)
    db.session.expire_all()
    site, bot = db.session.get(Channel, org.channel.id), db.session.get(Channel, channel.id)
    assert (site.chat_weight, site.setting("greeting")) == (1, "Hi")
    assert (bot.chat_weight, bot.name) == (1, "Shop bot")
