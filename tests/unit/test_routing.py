"""Routing: distribution modes, load, offers and their timers, transfers, presence."""
from datetime import timedelta

import pytest
from hypothesis import given, settings, strategies as st

from app.extensions import db
from app.models import Chat, ChatEvent, UserStatusLog, utcnow
from app.services import history, routing, users
from app.services.errors import ServiceError
from helpers import visitor_id, widget_post


def new_chat(app, org, text="Hello"):
    assert widget_post(app.test_client(), org.channel, visitor_id(), text=text).status_code == 202
    return db.session.scalar(db.select(Chat).order_by(Chat.id.desc()))


def auto(org, mode, **settings_):
    org.support.routing_mode = mode
    for key, value in settings_.items():
        setattr(org.support, key, value)
    db.session.commit()


def events(chat, kind):
    return list(db.session.scalars(db.select(ChatEvent).where(ChatEvent.chat_id == chat.id,
                                                              ChatEvent.kind == kind)))


def test_round_robin_offers_one_operator_at_a_time_in_turn(app, org, login):
    org.oleg.language = "en"  # the texts below are checked in English
    auto(org, "round_robin")
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chats = [new_chat(app, org, f"chat {i}") for i in range(4)]
    for chat in chats:
        db.session.refresh(chat)
    offered_to = [c.offered_to_id for c in chats]
    assert all(c.status == "offered" for c in chats)
    assert offered_to[0] != offered_to[1] and offered_to[0] == offered_to[2]
    assert offered_to[1] == offered_to[3]
    # Only the operator it is offered to can accept it.
    first = chats[0]
    other = org.oleg if first.offered_to_id == org.olga.id else org.olga
    owner = org.olga if other is org.oleg else org.oleg
    resp = login(other).post(f"/workspace/chats/{first.id}/accept", htmx=True)
    assert resp.status_code == 409 and "being offered to" in resp.get_data(as_text=True)
    assert login(owner).post(f"/workspace/chats/{first.id}/accept", htmx=True).status_code == 200
    # Why here: the chat's history says mode, turn and load.
    [offer] = events(first, "offered")
    text = history.describe(offer)
    assert "Round robin" in text and owner.name in text and "load 0 of 3" in text


def test_least_loaded_never_exceeds_the_load_and_respects_weight(app, org, login):
    auto(org, "least_loaded")
    org.olga.max_load, org.oleg.max_load = 3, 2
    db.session.commit()
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chats = [new_chat(app, org, f"c{i}") for i in range(7)]
    for chat in chats:
        db.session.refresh(chat)
    held = {org.olga.id: 0, org.oleg.id: 0}
    for chat in chats:
        if chat.status == "offered":
            held[chat.offered_to_id] += 1
    # Free capacity first: 3 for Olga and 2 for Oleg; the other two wait, in order.
    assert held == {org.olga.id: 3, org.oleg.id: 2}
    assert [c.status for c in chats[5:]] == ["queued", "queued"]
    assert routing.load_of(org.olga.id) == 3
    # A heavier channel: a weight-2 chat does not fit in one free slot.
    olga = login(org.olga)
    for chat in chats[:5]:
        if chat.offered_to_id == org.olga.id:
            assert olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True).status_code == 200
    mine = [c for c in chats[:5] if c.offered_to_id == org.olga.id or c.assignee_id == org.olga.id]
    assert olga.post(f"/workspace/chats/{mine[0].id}/close", htmx=True).status_code == 200
    db.session.expire_all()
    # The freed slot went to the oldest waiting chat at once.
    assert db.session.get(Chat, chats[5].id).offered_to_id == org.olga.id
    assert db.session.get(Chat, chats[6].id).status == "queued"


def test_ties_go_to_who_waited_longest(app, org):
    auto(org, "least_loaded")
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    org.olga.last_routed_at = utcnow() - timedelta(minutes=1)
    org.oleg.last_routed_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    chat = new_chat(app, org)
    assert chat.offered_to_id == org.oleg.id


def test_priority_moves_a_chat_up(app, org):
    auto(org, "round_robin")
    org.olga.max_load = 1
    db.session.commit()
    first, second = new_chat(app, org, "first"), new_chat(app, org, "vip")
    second.priority = 5
    db.session.commit()
    users.set_presence(org.olga, "active")
    db.session.expire_all()
    assert db.session.get(Chat, second.id).offered_to_id == org.olga.id
    assert db.session.get(Chat, first.id).status == "queued"


def test_an_expired_offer_goes_to_the_next_operator_and_back(app, org):
    auto(org, "round_robin", offer_timeout_seconds=30)
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = new_chat(app, org)
    first = chat.offered_to_id
    assert routing.run_timers(utcnow() + timedelta(seconds=10))["offers"] == 0
    assert routing.run_timers(utcnow() + timedelta(seconds=31))["offers"] == 1
    db.session.refresh(chat)
    assert chat.status == "offered" and chat.offered_to_id not in (None, first)
    second = chat.offered_to_id
    # Nobody else left: it comes back round to the first operator.
    routing.run_timers(utcnow() + timedelta(seconds=31))
    db.session.refresh(chat)
    assert chat.offered_to_id == first
    assert [e.details["operator_id"] for e in events(chat, "offer_expired")] == [first, second]
    assert "did not accept the offer in time" in history.describe(events(chat, "offer_expired")[0])


def test_pass_sends_the_offer_on(app, org, login):
    auto(org, "round_robin")
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = new_chat(app, org)
    holder = org.olga if chat.offered_to_id == org.olga.id else org.oleg
    other = org.oleg if holder is org.olga else org.olga
    assert login(other).post(f"/workspace/chats/{chat.id}/decline", htmx=True).status_code == 409
    assert login(holder).post(f"/workspace/chats/{chat.id}/decline", htmx=True).status_code == 204
    db.session.refresh(chat)
    assert chat.offered_to_id == other.id


def test_manual_mode_accept_is_refused_over_the_load(app, org, login):
    org.olga.max_load = 1
    db.session.commit()
    users.set_presence(org.olga, "active")
    a, b = new_chat(app, org, "a"), new_chat(app, org, "b")
    olga = login(org.olga)
    assert olga.post(f"/workspace/chats/{a.id}/accept", htmx=True).status_code == 200
    resp = olga.post(f"/workspace/chats/{b.id}/accept", htmx=True)
    assert resp.status_code == 409 and "as many chats as you can take (1 of 1)" in \
        resp.get_data(as_text=True)
    db.session.refresh(b)
    assert b.status == "offered" and b.assignee_id is None


def test_going_away_gives_chats_back_and_logs_the_status(app, org, login):
    auto(org, "round_robin")
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    assert login(org.olga).post(f"/workspace/chats/{chat.id}/accept", htmx=True).status_code == 200
    users.set_presence(org.oleg, "active")
    users.set_presence(org.olga, "away")
    db.session.refresh(chat)
    assert chat.assignee_id is None and chat.status == "offered"
    assert chat.offered_to_id == org.oleg.id
    [requeued] = events(chat, "requeued")
    assert requeued.details["reason"] == "away" and "went Away" in history.describe(requeued)
    log = list(db.session.scalars(db.select(UserStatusLog).where(
        UserStatusLog.user_id == org.olga.id).order_by(UserStatusLog.id)))
    assert [r.presence for r in log] == ["active", "away"]
    assert log[0].ended_at is not None and log[1].ended_at is None
    spent = users.presence_durations(org.olga.id, utcnow() - timedelta(hours=1))
    assert spent["active"] >= 0 and spent["away"] >= 0


def test_a_closed_tab_sets_the_operator_offline_after_the_queue_timer(app, org):
    org.support.disconnect_minutes = 5
    db.session.commit()
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    assert routing.run_timers(utcnow() + timedelta(minutes=4))["disconnected"] == 0
    assert routing.run_timers(utcnow() + timedelta(minutes=6))["disconnected"] == 1
    db.session.refresh(org.olga)
    assert org.olga.presence == "offline"
    last = db.session.scalar(db.select(UserStatusLog).where(
        UserStatusLog.user_id == org.olga.id).order_by(UserStatusLog.id.desc()))
    assert last.reason == "disconnected"
    db.session.refresh(chat)
    assert chat.status == "queued"
    [unoffered] = events(chat, "unoffered")
    assert "Nobody in the queue was Active" in history.describe(unoffered)


def test_unanswered_chat_goes_to_the_fallback_queue(app, org, login):
    auto(org, "manual", answer_timeout_minutes=10, disconnect_minutes=60)
    org.support.fallback_queue_id = org.sales.id
    org.sales.disconnect_minutes = 60
    db.session.commit()
    users.set_presence(org.olga, "active")
    users.set_presence(org.sam, "active")
    chat = new_chat(app, org)
    login(org.olga).post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    assert routing.run_timers(utcnow() + timedelta(minutes=9))["unanswered"] == 0
    assert routing.run_timers(utcnow() + timedelta(minutes=11))["unanswered"] == 1
    db.session.refresh(chat)
    assert chat.queue_id == org.sales.id and chat.assignee_id is None
    assert chat.status == "offered"  # Sam is Active in Sales (manual: offered to all)
    [timeout] = events(chat, "answer_timeout")
    assert "did not answer in time" in history.describe(timeout)
    # An answered chat is not taken away.
    chat2 = new_chat(app, org, "second")
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat2.id}/accept", htmx=True)
    olga.post(f"/workspace/chats/{chat2.id}/messages", {"text": "Hi!"}, htmx=True)
    assert routing.run_timers(utcnow() + timedelta(minutes=11))["unanswered"] == 0


def test_inactive_chat_closes_itself_with_the_closing_message(app, org):
    auto(org, "manual", inactivity_close_minutes=30, closing_message="We close this chat now.")
    chat = new_chat(app, org)
    assert routing.run_timers(utcnow() + timedelta(minutes=29))["inactive"] == 0
    assert routing.run_timers(utcnow() + timedelta(minutes=31))["inactive"] == 1
    db.session.refresh(chat)
    assert chat.status == "closed" and chat.closed_by_id is None
    last = list(chat.messages)[-1]
    assert last.text == "We close this chat now." and last.direction == "out"
    assert "no message from the customer for 30 minutes" in \
        history.describe(events(chat, "auto_closed")[0])


def test_transfer_to_an_operator_with_a_comment(app, org, login):
    org.oleg.language = "en"  # the texts below are checked in English
    db.session.commit()
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    form = olga.get(f"/workspace/chats/{chat.id}/transfer").get_data(as_text=True)
    assert f'value="user:{org.oleg.id}"' in form
    resp = olga.post(f"/workspace/chats/{chat.id}/transfer",
                     {"target": f"user:{org.oleg.id}", "comment": "Wants a refund"}, htmx=True)
    assert resp.status_code == 200
    db.session.refresh(chat)
    assert chat.assignee_id == org.oleg.id
    # The next operator sees the comment in the transcript.
    page = login(org.oleg).get(f"/workspace/chats/{chat.id}").get_data(as_text=True)
    assert "Wants a refund" in page and "transferred the chat to Oleg" in page
    # Olga is no longer the assignee: she cannot transfer it again.
    again = olga.post(f"/workspace/chats/{chat.id}/transfer",
                      {"target": f"queue:{org.sales.id}"}, htmx=True)
    assert again.status_code == 403


def test_transfer_refusals(app, org, login):
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    olga = login(org.olga)
    olga.post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    for target, status, text in [
            ("", 400, "Choose an operator or a queue"),
            (f"user:{org.oleg.id}", 400, "is not Active"),
            (f"user:{org.sam.id}", 400, "not a member of this chat’s queue"),
            ("queue:9999", 404, "no such queue"),
            ("user:abc", 400, "Choose an operator")]:
        resp = olga.post(f"/workspace/chats/{chat.id}/transfer", {"target": target}, htmx=True)
        assert resp.status_code == status and text in resp.get_data(as_text=True), target
    users.set_presence(org.oleg, "active")
    org.oleg.max_load = 1
    other = new_chat(app, org, "other")
    login(org.oleg).post(f"/workspace/chats/{other.id}/accept", htmx=True)
    full = olga.post(f"/workspace/chats/{chat.id}/transfer", {"target": f"user:{org.oleg.id}"},
                     htmx=True)
    assert full.status_code == 409 and "(1 of 1)" in full.get_data(as_text=True)
    db.session.refresh(chat)
    assert chat.assignee_id == org.olga.id


def test_transfer_to_a_queue_and_supervisor_reassign(app, org, login):
    users.set_presence(org.olga, "active")
    users.set_presence(org.sam, "active")
    chat = new_chat(app, org)
    login(org.olga).post(f"/workspace/chats/{chat.id}/accept", htmx=True)
    resp = login(org.olga).post(f"/workspace/chats/{chat.id}/transfer",
                                {"target": f"queue:{org.sales.id}", "comment": "Sales question"},
                                htmx=True)
    assert resp.status_code == 200
    db.session.refresh(chat)
    assert (chat.queue_id, chat.status, chat.assignee_id) == (org.sales.id, "offered", None)
    # A supervisor moves it to Olga directly (she must be a member of Sales now: she is not).
    admin = login(org.admin)
    refused = admin.post(f"/workspace/chats/{chat.id}/transfer",
                         {"target": f"user:{org.olga.id}"}, htmx=True)
    assert refused.status_code == 400
    ok = admin.post(f"/workspace/chats/{chat.id}/transfer", {"target": f"user:{org.sam.id}"},
                    htmx=True)
    assert ok.status_code == 200
    db.session.refresh(chat)
    assert chat.assignee_id == org.sam.id
    kinds = [e.kind for e in chat.events]
    assert kinds.count("transferred") == 2


def test_racing_reassigns_leave_one_result(app, org):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = new_chat(app, org)
    routing.transfer(org.admin, chat.id, to_user_id=org.olga.id)
    # Two supervisors both saw Olga as the assignee; the second acts on stale state.
    routing.transfer(org.admin, chat.id, to_user_id=org.oleg.id)
    with pytest.raises(ServiceError):
        routing.transfer(org.admin, chat.id, to_user_id=org.oleg.id)
    db.session.refresh(chat)
    assert chat.assignee_id == org.oleg.id and chat.status == "active"


# -- the rule itself, property-based -------------------------------------------------------
candidates_st = st.lists(
    st.tuples(st.integers(1, 6), st.integers(0, 6), st.integers(0, 1000), st.booleans()),
    min_size=0, max_size=8)


@settings(max_examples=400, deadline=None)
@given(mode=st.sampled_from(["round_robin", "least_loaded"]), weight=st.integers(1, 3),
       raw=candidates_st)
def test_choose_properties(mode, weight, raw):
    base = utcnow()
    cands = [routing.Candidate(i + 1, f"op{i}", max_load, min(load, max_load),
                               base - timedelta(seconds=age), skipped)
             for i, (max_load, load, age, skipped) in enumerate(raw)]
    decision = routing.choose(mode, weight, cands)
    fitting = [c for c in cands if c.load + weight <= c.max_load]
    if not fitting:
        assert decision is None
        return
    chosen = next(c for c in cands if c.user_id == decision.user_id)
    # Never over the load.
    assert chosen.load + weight <= chosen.max_load
    # Someone not skipped is preferred whenever one fits.
    if any(not c.skipped for c in fitting):
        assert not chosen.skipped
    pool = [c for c in fitting if c.skipped == chosen.skipped]
    if mode == "least_loaded":
        assert chosen.free == max(c.free for c in pool)
        tied = [c for c in pool if c.free == chosen.free]
        assert chosen.last_routed_at == min(c.last_routed_at for c in tied)
    else:
        assert chosen.last_routed_at == min(c.last_routed_at for c in pool)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.integers(1, 4), min_size=1, max_size=5), chats=st.integers(0, 20),
       mode=st.sampled_from(["round_robin", "least_loaded"]))
def test_simulated_routing_assigns_each_chat_once_within_load(ops, chats, mode):
    """Hand out `chats` unit chats one by one: each goes to one operator, nobody exceeds
    their maximum, and chats wait only when everyone is full."""
    base = utcnow()
    cands = [routing.Candidate(i + 1, f"op{i}", m, 0, None) for i, m in enumerate(ops)]
    assigned = 0
    for n in range(chats):
        decision = routing.choose(mode, 1, cands)
        if decision is None:
            assert all(c.load == c.max_load for c in cands)
            continue
        c = next(c for c in cands if c.user_id == decision.user_id)
        c.load += 1
        c.last_routed_at = base + timedelta(seconds=n)
        assigned += 1
    assert assigned == min(chats, sum(ops))
    assert all(c.load <= c.max_load for c in cands)
    if mode == "round_robin" and chats <= len(ops) and all(m >= 1 for m in ops):
        assert all(c.load <= 1 for c in cands)  # in turn: nobody gets a second before all had one


def test_away_reply_when_nobody_is_there_or_the_queue_is_closed(app, org, login):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Europe/Berlin")
    today = datetime.now(zone).weekday()
    # Open only on another weekday, 09:00-18:00 Berlin time: closed all of today.
    other_day = (today + 2) % 7
    auto(org, "manual", offline_message="We are away. Back on {next_open}.", hours_enabled=True,
         timezone="Europe/Berlin", hours={str(other_day): [["09:00", "18:00"]]})
    users.set_presence(org.olga, "active")  # someone is Active, but the queue is closed
    chat = new_chat(app, org, "hello?")
    out = [m for m in chat.messages if m.direction == "out"]
    assert len(out) == 1 and out[0].text.startswith("We are away. Back on ")
    assert "09:00 (Europe/Berlin)" in out[0].text and "{next_open}" not in out[0].text
    assert events(chat, "offline_reply")
    assert chat.status == "offered"  # still routed: Olga is there and may answer
    # Only once per chat.
    assert widget_post(app.test_client(), org.channel, chat.identity.external_id,
                       text="again").status_code == 202
    assert len([m for m in chat.messages if m.direction == "out"]) == 1
    # Open hours, someone Active: no away message.
    org.support.hours_enabled = False
    db.session.commit()
    chat2 = new_chat(app, org, "now?")
    assert [m for m in chat2.messages if m.direction == "out"] == []
    # Nobody Active: away message even within hours (no {next_open} when hours are off).
    users.set_presence(org.olga, "offline")
    chat3 = new_chat(app, org, "anyone?")
    [reply] = [m for m in chat3.messages if m.direction == "out"]
    assert reply.text == "We are away. Back on ."


def test_supervisor_sets_priority_and_the_header_says_why_here(app, org, login):
    auto(org, "round_robin")
    org.olga.max_load = 1
    db.session.commit()
    first, second = new_chat(app, org, "first"), new_chat(app, org, "second")
    admin = login(org.admin)
    assert login(org.olga).post(f"/workspace/chats/{second.id}/priority", {"priority": "2"},
                                htmx=True).status_code == 403
    assert admin.post(f"/workspace/chats/{second.id}/priority", {"priority": "9"},
                      htmx=True).status_code == 400
    assert admin.post(f"/workspace/chats/{second.id}/priority", {"priority": "2"},
                      htmx=True).status_code == 204
    users.set_presence(org.olga, "active")
    db.session.expire_all()
    assert db.session.get(Chat, second.id).offered_to_id == org.olga.id
    assert db.session.get(Chat, first.id).status == "queued"
    page = login(org.olga).get(f"/workspace/chats/{second.id}").get_data(as_text=True)
    assert "Why here?" in page and "Round robin: it was Olga Operator’s turn, the longest without a new chat" in page
    card = admin.get(f"/chats/{second.id}").get_data(as_text=True)
    assert "set the priority to Urgent" in card


def test_todays_status_times_add_up(app, org):
    since = utcnow() - timedelta(hours=1)
    spent = users.presence_durations(org.olga.id, since)
    assert round(spent["offline"]) == 3600 and spent["active"] == 0  # nothing logged yet
    users.set_presence(org.olga, "active")
    spent = users.presence_durations(org.olga.id, since)
    assert round(sum(spent.values())) == 3600 and round(spent["offline"]) == 3600
    later = utcnow() + timedelta(minutes=30)
    spent = users.presence_durations(org.olga.id, since, later)
    assert round(spent["active"]) == 1800 and round(spent["offline"]) == 3600


def test_the_last_member_of_an_auto_queue_cannot_be_deactivated(app, org, login):
    org.sales.routing_mode = "round_robin"  # Sam is its only member
    db.session.commit()
    admin = login(org.admin)
    resp = admin.post(f"/settings/users/{org.sam.id}/enabled", {"enabled": "0"})
    page = admin.get(resp.headers.get("Location", "/settings/users")).get_data(as_text=True) \
        if resp.status_code == 302 else resp.get_data(as_text=True)
    assert "the only member of “Sales”" in page
    db.session.refresh(org.sam)
    assert org.sam.is_enabled
    # Olga is not the last member of Support (Oleg is there too): she can be.
    assert admin.post(f"/settings/users/{org.olga.id}/enabled", {"enabled": "0"}).status_code \
        == 302
    db.session.refresh(org.olga)
    assert not org.olga.is_enabled
