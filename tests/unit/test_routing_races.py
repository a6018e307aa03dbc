"""Races in routing, forced with pauses in threads: each test holds one party at the
worst moment, lets the other commit, and checks that the result is still consistent.
They run on SQLite and on PostgreSQL (make test's second pass)."""
import threading
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Chat, ChatEvent, User, UserStatusLog, utcnow
from app.services import chats as chat_service, routing, users, queues
from helpers import visitor_id, widget_post


def new_chat(app, org, text="Hello"):
    assert widget_post(app.test_client(), org.channel, visitor_id(), text=text).status_code == 202
    return db.session.scalar(db.select(Chat).order_by(Chat.id.desc()))


def in_thread(app, fn):
    out = {}

    def run():
        with app.app_context():
            try:
                out["value"] = fn()
            except Exception as exc:  # noqa: BLE001
                out["error"] = exc
            finally:
                db.session.remove()
    t = threading.Thread(target=run)
    t.start()
    return t, out


def pause_once(monkeypatch, module, name, *, before=True):
    """Patch module.name so that its first call (from a non-main thread) pauses."""
    original = getattr(module, name)
    reached, go = threading.Event(), threading.Event()
    state = {"done": False}

    def wrapper(*a, **kw):
        if not state["done"] and threading.current_thread() is not threading.main_thread():
            state["done"] = True
            if before:
                reached.set()
                go.wait(10)
                return original(*a, **kw)
            result = original(*a, **kw)
            reached.set()
            go.wait(10)
            return result
        return original(*a, **kw)
    monkeypatch.setattr(module, name, wrapper)
    return reached, go


def row(chat_id):
    db.session.expire_all()
    return db.session.get(Chat, chat_id)


# Manual routing reads the waiting list, then an accept commits: the accept stands.
def test_manual_routing_keeps_a_concurrent_accept(app, org, monkeypatch):
    users.set_presence(org.admin, "active")  # supervisor, Active, member of no queue
    chat = new_chat(app, org)
    assert chat.status == "queued"  # manual, nobody of Support Active
    chat_id, olga_id, admin_id = chat.id, org.olga.id, org.admin.id
    reached, go = pause_once(monkeypatch, routing, "active_member_ids", before=False)
    t, out = in_thread(app, lambda: users.set_presence(db.session.get(User, olga_id), "active"))
    assert reached.wait(10)
    chat_service.accept_chat(db.session.get(User, admin_id), chat_id)  # commits
    go.set()
    t.join(10)
    assert "error" not in out, out
    c = row(chat_id)
    assert c.status == "active" and c.assignee_id == admin_id  # the accept stands
    assert routing.load_of(admin_id) == 1


# The last Active member leaves while a supervisor accepts: the accept stands.
def test_last_member_leaves_while_a_supervisor_accepts(app, org, monkeypatch):
    users.set_presence(org.admin, "active")
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    assert chat.status == "offered"
    chat_id, olga_id, admin_id = chat.id, org.olga.id, org.admin.id
    reached, go = pause_once(monkeypatch, routing, "unoffer_if_nobody_active")
    t1, o1 = in_thread(app, lambda: users.set_presence(db.session.get(User, olga_id), "away"))
    assert reached.wait(10)
    t2, o2 = in_thread(app, lambda: chat_service.accept_chat(db.session.get(User, admin_id),
                                                             chat_id))
    # PostgreSQL: the accept commits while Olga's change waits; SQLite (one writer): the
    # accept waits for Olga's change. Either way the accept must stand.
    t2.join(3)
    go.set()
    t1.join(10)
    t2.join(10)
    assert "error" not in o1 and "error" not in o2, (o1, o2)
    c = row(chat_id)
    assert c.status == "active" and c.assignee_id == admin_id
    assert routing.load_of(admin_id) == 1


# Going Away while a supervisor moves one of your chats to someone else: it stays moved.
def test_going_away_while_a_supervisor_moves_the_chat(app, org, monkeypatch):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = new_chat(app, org)
    chat_service.accept_chat(org.olga, chat.id)
    chat_id, olga_id, oleg_id, admin_id = chat.id, org.olga.id, org.oleg.id, org.admin.id
    reached, go = pause_once(monkeypatch, routing, "requeue")
    t1, o1 = in_thread(app, lambda: users.set_presence(db.session.get(User, olga_id), "away"))
    assert reached.wait(10)
    t2, o2 = in_thread(app, lambda: routing.transfer(db.session.get(User, admin_id), chat_id,
                                                     to_user_id=oleg_id))
    # PostgreSQL: the transfer commits while Olga's change waits. SQLite has one writer:
    # the transfer waits for Olga's change instead.
    t2.join(3)
    go.set()
    t1.join(10)
    t2.join(10)
    assert "error" not in o1, o1
    c = row(chat_id)
    requeued = db.session.scalars(db.select(ChatEvent).where(
        ChatEvent.chat_id == chat_id, ChatEvent.kind == "requeued")).all()
    if "error" in o2:  # Olga's change came first: the chat went back, the transfer saw it
        assert "changed meanwhile" in str(o2["error"])
        assert c.assignee_id is None and requeued[0].details["operator_id"] == olga_id
    else:  # the transfer came first: Oleg keeps it, and Olga's change does not touch it
        assert c.status == "active" and c.assignee_id == oleg_id and not requeued


# The answer timer fires while the operator answers: the answer wins.
def test_answer_timer_spares_a_chat_answered_meanwhile(app, org, monkeypatch):
    org.support.answer_timeout_minutes = 2
    db.session.commit()
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    chat_service.accept_chat(org.olga, chat.id)
    old = utcnow() - timedelta(minutes=5)
    db.session.execute(db.update(Chat).where(Chat.id == chat.id)
                       .values(awaiting_since=old, accepted_at=old))
    db.session.commit()
    chat_id, olga_id = chat.id, org.olga.id
    reached, go = pause_once(monkeypatch, routing, "requeue")
    t, out = in_thread(app, lambda: routing._answer_timeouts(utcnow()))
    assert reached.wait(10)
    chat_service.add_reply(db.session.get(User, olga_id), chat_id, "Sorry, here I am")
    assert row(chat_id).awaiting_since is None
    go.set()
    t.join(10)
    assert "error" not in out, out
    c = row(chat_id)
    assert c.status == "active" and c.assignee_id == olga_id  # she answered: it stays hers


# Starting chats from contact cards: the load and the status hold.
@pytest.fixture
def bot(app, org):
    from app.models import Channel
    from app.services import secrets
    channel = Channel(kind="telegram", name="Shop bot", queue_id=org.support.id,
                      settings={"bot_id": "999", "bot_username": "shop_bot"},
                      secrets_encrypted=secrets.encrypt({"token": "999:" + "a" * 35,
                                                         "webhook_secret": "s"}))
    db.session.add(channel)
    db.session.commit()
    return channel


def tg_identities(app, bot, n):
    import json
    from app.models import ContactIdentity
    for i in range(n):
        upd = {"update_id": 100 + i, "message": {
            "message_id": 100 + i, "date": 1700000000, "text": "hi",
            "chat": {"id": 500 + i, "type": "private", "first_name": f"C{i}"},
            "from": {"id": 500 + i, "is_bot": False, "first_name": f"C{i}"}}}
        assert app.test_client().post(f"/webhooks/telegram/{bot.public_id}", data=json.dumps(upd),
                                      headers={"Content-Type": "application/json",
                                               "X-Telegram-Bot-Api-Secret-Token": "s"}
                                      ).status_code == 200
    for c in db.session.scalars(db.select(Chat)):
        c.status, c.open_identity_id = "closed", None
    db.session.commit()
    return [i.id for i in db.session.scalars(db.select(ContactIdentity).where(
        ContactIdentity.channel_id == bot.id).order_by(ContactIdentity.id))]


def test_concurrent_starts_respect_the_load(app, org, bot, monkeypatch):
    ids = tg_identities(app, bot, 2)
    org.olga.max_load = 1
    db.session.commit()
    users.set_presence(org.olga, "active")
    olga_id = org.olga.id
    barrier = threading.Barrier(2)
    original = chat_service.start_refusal

    def wrapper(user, identity):
        r = original(user, identity)
        barrier.wait(10)
        return r
    monkeypatch.setattr(chat_service, "start_refusal", wrapper)
    ts = [in_thread(app, lambda i=i: chat_service.start_chat(db.session.get(User, olga_id), i).id)
          for i in ids]
    for t, _out in ts:
        t.join(20)
    outcomes = sorted("error" in out for _t, out in ts)
    assert outcomes == [False, True]  # one started, one refused
    refused = next(out["error"] for _t, out in ts if "error" in out)
    assert "as many chats as you can take" in str(refused)
    db.session.expire_all()
    assert routing.load_of(olga_id) == 1


def test_start_chat_needs_active(app, org, bot):
    [ident] = tg_identities(app, bot, 1)
    assert org.olga.presence == "offline"
    from app.services.errors import NotAllowed
    with pytest.raises(NotAllowed, match="Active"):
        chat_service.start_chat(org.olga, ident)
    assert routing.load_of(org.olga.id) == 0


# Two status changes at once (the operator and the sweeper): one current period.
def test_concurrent_status_changes_keep_one_period(app, org, monkeypatch):
    users.set_presence(org.olga, "active")
    olga_id = org.olga.id
    reached, go = pause_once(monkeypatch, routing, "unoffer_if_nobody_active")
    t1, o1 = in_thread(app, lambda: users.set_presence(db.session.get(User, olga_id), "away"))
    assert reached.wait(10)
    t2, o2 = in_thread(app, lambda: users.set_presence(db.session.get(User, olga_id), "offline",
                                                       reason="disconnected"))
    go.set()
    t1.join(10)
    t2.join(10)
    assert "error" not in o1 and "error" not in o2, (o1, o2)
    open_rows = db.session.scalars(db.select(UserStatusLog).where(
        UserStatusLog.user_id == olga_id, UserStatusLog.ended_at.is_(None))).all()
    assert len(open_rows) == 1  # whatever the order, one current period


# Two operators transfer chats to each other at the same moment: no deadlock (PostgreSQL's
# FOR UPDATE on the target would conflict with the foreign-key checks of the events).
def test_crossed_transfers_do_not_deadlock(app, org, monkeypatch):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    a, b = new_chat(app, org, "a"), new_chat(app, org, "b")
    chat_service.accept_chat(org.olga, a.id)
    chat_service.accept_chat(org.oleg, b.id)
    olga_id, oleg_id, a_id, b_id = org.olga.id, org.oleg.id, a.id, b.id
    barrier = threading.Barrier(2)
    original = routing._lock_operator

    def wrapper(user_id):
        original(user_id)
        if threading.current_thread() is not threading.main_thread():
            barrier.wait(10)
    monkeypatch.setattr(routing, "_lock_operator", wrapper)
    t1, o1 = in_thread(app, lambda: routing.transfer(db.session.get(User, olga_id), a_id,
                                                     to_user_id=oleg_id))
    t2, o2 = in_thread(app, lambda: routing.transfer(db.session.get(User, oleg_id), b_id,
                                                     to_user_id=olga_id))
    t1.join(20)
    t2.join(20)
    errors = [o.get("error") for o in (o1, o2) if "error" in o]
    assert not errors, errors
    assert row(a_id).assignee_id == oleg_id and row(b_id).assignee_id == olga_id


# Giving a chat back to its own queue: it goes to a colleague first.
def test_transfer_to_own_queue_goes_to_a_colleague(app, org):
    org.support.routing_mode = "least_loaded"
    db.session.commit()
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    c1 = new_chat(app, org, "one")
    c2 = new_chat(app, org, "two")
    for c in (c1, c2):
        db.session.refresh(c)
        chat_service.accept_chat(c.offered_to, c.id)
    # both have 1 chat now; olga also had least recently routed? force olga to be next
    db.session.refresh(c1)
    owner = c1.assignee
    routing.transfer(owner, c1.id, to_queue_id=org.support.id, comment="someone else please")
    c = row(c1.id)
    assert c.status == "offered" and c.offered_to_id not in (None, owner.id)  # the colleague


# Switching a queue from Manual to an auto mode: chats offered to everyone are handed out.
def test_manual_to_auto_hands_out_offered_chats(app, org):
    users.set_presence(org.olga, "active")
    chat = new_chat(app, org)
    assert chat.status == "offered" and chat.offered_to_id is None
    settings = queues.QueueSettings.of(org.support)
    settings.routing_mode = "round_robin"
    queues.save_queue(org.support, org.support.name, [org.olga.id, org.oleg.id], settings)
    routing.route()
    routing.run_timers(utcnow() + timedelta(minutes=3))
    c = row(chat.id)
    assert c.status == "offered" and c.offered_to_id == org.olga.id  # one operator now
