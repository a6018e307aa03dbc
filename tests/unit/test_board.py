"""The supervisor board: who sees it, what it shows, the actions taken from it, the live
signal, and today's status times."""
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from app.blueprints.board import snapshot
from app.blueprints.board.views import HEARTBEAT, HELLO, REFRESH, hours_minutes, serve
from app.extensions import db
from app.models import Chat, ChatEvent, UserStatusLog
from app.realtime.hub import RESYNC
from app.realtime.topics import ALL_QUEUES, queue_topic, user_topic
from app.services import chats, users
from helpers import visitor_id, widget_post


def new_chat(app, org, text="Hello"):
    assert widget_post(app.test_client(), org.channel, visitor_id(), text=text).status_code == 202
    return db.session.scalar(db.select(Chat).order_by(Chat.id.desc()))


def assigned_chat(app, org, user, text="Hello"):
    chat = new_chat(app, org, text)
    return chats.accept_chat(user, chat.id)


def fragment(html: str, element_id: str, end: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index(end, start)]


def make_supervisor(org, email="sue@example.com", name="Sue Supervisor"):
    from conftest import PASSWORDS
    PASSWORDS[email] = "sue password 123"
    return users.create_user(name, email, PASSWORDS[email], "supervisor", "en", [])


# -- access ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [
    ("get", "/board"), ("get", "/board/panels"), ("get", "/board/ws"),
    ("post", "/board/operators/{olga}/presence"), ("post", "/board/chats/{chat}/reassign"),
    ("post", "/board/chats/{chat}/close"),
])
def test_operators_cannot_use_the_board(app, org, login, method, path):
    users.set_presence(org.olga, "active")
    chat = assigned_chat(app, org, org.olga)
    olga = login(org.olga)
    url = path.format(olga=org.olga.id, chat=chat.id)
    # The socket's route matches websocket handshakes only.
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} if url.endswith("/ws") else {}
    resp = olga.get(url, headers=upgrade) if method == "get" else olga.post(
        url, {"presence": "away", "to": f"user:{org.oleg.id}"}, htmx=True)
    assert resp.status_code == 403
    db.session.refresh(chat)
    db.session.refresh(org.olga)
    assert chat.status == "active" and chat.assignee_id == org.olga.id
    assert org.olga.presence == "active"


def test_board_needs_a_login_and_the_nav_shows_it_to_supervisors_only(app, org, browser, login):
    assert browser.get("/board").status_code == 302
    assert 'href="/board"' in login(org.admin).get("/workspace").get_data(as_text=True)
    assert 'href="/board"' in login(make_supervisor(org)).get("/workspace").get_data(as_text=True)
    assert 'href="/board"' not in login(org.olga).get("/workspace").get_data(as_text=True)


# -- what it shows --------------------------------------------------------------------------
def test_supervisor_sees_queues_operators_waiting_chats_and_loads(app, org, login):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "away")
    mine = [assigned_chat(app, org, org.olga, f"Mine {i}") for i in range(2)]
    waiting = [new_chat(app, org, f"Waiting {i}") for i in range(3)]
    page = login(org.admin).get("/board")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "css/board.css" in html and "js/board.js" in html
    assert re.search(r'data-ws="wss?://[^"/]+/board/ws"', html)

    support = fragment(html, f"board-queue-{org.support.id}", "</article>")
    assert "Support" in support and "Manual" in support
    assert re.search(r"data-waiting-count>\s*3\s*<", support)
    assert all(f'id="board-chat-{c.id}"' in support for c in waiting)
    oldest = min(c.created_at for c in waiting)
    assert f'data-since="{oldest.isoformat()}"' in support  # the longest wait ticks from here
    assert "Olga Operator" in support and "2/3" in support  # Active members with their load
    assert "Oleg Operator" not in support.split("Waiting chats")[0]  # Away: not Active
    sales = fragment(html, f"board-queue-{org.sales.id}", "</article>")
    assert re.search(r"data-waiting-count>\s*0\s*<", sales)
    assert "Nobody is Active in this queue." in sales

    olga = fragment(html, f"board-operator-{org.olga.id}", "</tr>")
    assert "Active" in olga and "2/3" in olga and 'style="width: 67%"' in olga
    for chat in mine:
        assert f'href="/chats/{chat.id}"' in olga
    assert f'data-since="{org.olga.presence_changed_at.isoformat()}"' in olga
    assert "Olga Operator holds 2 chats: they go back to their queues." in olga  # confirm first
    oleg = fragment(html, f"board-operator-{org.oleg.id}", "</tr>")
    assert "Away" in oleg and "0/3" in oleg
    sam = fragment(html, f"board-operator-{org.sam.id}", "</tr>")
    assert "Offline" in sam and "Sales" in sam
    # Ada (an admin in no queue, holding nothing) is not an operator row.
    assert f"board-operator-{org.admin.id}" not in html
    # The reassign menu lists the queue's members, with who can take the chat.
    menu = fragment(html, f"reassign-{mine[0].id}", "</select>")
    assert f'value="user:{org.oleg.id}" disabled' in menu
    assert f'value="user:{org.olga.id}"' not in menu  # she has it already
    assert f'value="queue:{org.sales.id}"' in menu


def test_board_in_russian_keeps_the_placeholders_for_the_ticking_times(app, org, login):
    users.set_language(org.admin, "ru")
    users.set_presence(org.olga, "active")
    new_chat(app, org)
    resp = login(org.admin).get("/board")
    assert resp.status_code == 200
    board = fragment(resp.get_data(as_text=True), "board", "</div>")
    strings = re.search(r"data-strings='([^']+)'", board).group(1)
    assert "%(s)s" in strings and "%(h)s" in strings and "%(time)s" in strings


def test_panels_are_one_fragment_and_their_queries_do_not_grow_with_the_team(app, org, login):
    admin = login(org.admin)
    users.set_presence(org.olga, "active")
    assigned_chat(app, org, org.olga)

    def statements():
        admin.get("/board/panels")  # warm the session like a second refresh would be
        count = []
        listener = lambda *args: count.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            resp = admin.get("/board/panels")
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert resp.status_code == 200
        assert resp.get_data(as_text=True).lstrip().startswith('<div id="board-panels"')
        return len(count)

    small = statements()
    extra = [users.create_user(f"Extra {i}", f"extra{i}@example.com", "extra password 1",
                               "operator", "en", [org.support.id]) for i in range(4)]
    for user in extra[:2]:
        users.set_presence(user, "active")
    for user in (org.olga, *extra[:2]):
        assigned_chat(app, org, user)
    for _ in range(4):
        new_chat(app, org)
    big = statements()
    assert big == small, (small, big)
    assert small <= 12, small


# -- actions --------------------------------------------------------------------------------
def test_supervisor_status_change_is_logged_and_redistributes(app, org, login, hub):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = assigned_chat(app, org, org.olga)
    admin = login(org.admin)
    admin.get("/board")
    resp = admin.post(f"/board/operators/{org.olga.id}/presence", {"presence": "away"}, htmx=True)
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="board-panels"')
    assert "Status of Olga Operator: Away." in body  # a toast, swapped out of band
    db.session.refresh(org.olga)
    assert org.olga.presence == "away"
    row = db.session.scalar(db.select(UserStatusLog).where(
        UserStatusLog.user_id == org.olga.id, UserStatusLog.ended_at.is_(None)))
    assert (row.presence, row.actor_id, row.reason) == ("away", org.admin.id, "supervisor")
    db.session.refresh(chat)
    assert chat.assignee_id is None and chat.status in ("queued", "offered")
    assert org.olga.id in chat.routing_skip
    requeued = chat.events.filter_by(kind="requeued").one()
    assert requeued.actor_id == org.admin.id and requeued.details["operator_id"] == org.olga.id
    # Her open tabs were told (and the board shows her Away).
    assert any(t == user_topic(org.olga.id) for t, _e in hub.published)
    assert "Away" in fragment(body, f"board-operator-{org.olga.id}", "</tr>")


def test_status_change_refusals(app, org, login):
    admin = login(org.admin)
    resp = admin.post(f"/board/operators/{org.olga.id}/presence", {"presence": "asleep"},
                      htmx=True)
    assert resp.status_code == 400 and resp.headers["X-Switchboard-Toast"] == "1"
    resp = admin.post("/board/operators/9999/presence", {"presence": "away"}, htmx=True)
    assert resp.status_code == 404 and "There is no such operator." in resp.get_data(as_text=True)
    # CSRF stays on: a request without the token is refused.
    resp = admin.client.post(f"/board/operators/{org.olga.id}/presence",
                             data={"presence": "away"}, headers={"HX-Request": "true"})
    assert resp.status_code == 400
    db.session.refresh(org.olga)
    assert org.olga.presence == "offline"


def test_reassign_to_an_operator_and_to_a_queue(app, org, login):
    users.set_presence(org.olga, "active")
    users.set_presence(org.oleg, "active")
    chat = assigned_chat(app, org, org.olga)
    admin = login(org.admin)
    resp = admin.post(f"/board/chats/{chat.id}/reassign",
                      {"to": f"user:{org.oleg.id}", "holder": str(org.olga.id),
                       "comment": "VIP, be kind"}, htmx=True)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert f"Chat #{chat.id} is now with Oleg Operator." in resp.get_data(as_text=True)
    db.session.refresh(chat)
    assert chat.assignee_id == org.oleg.id and chat.status == "active"
    transferred = chat.events.filter_by(kind="transferred").one()
    assert transferred.actor_id == org.admin.id
    assert transferred.details["to_operator_id"] == org.oleg.id
    assert transferred.details["comment"] == "VIP, be kind"

    resp = admin.post(f"/board/chats/{chat.id}/reassign",
                      {"to": f"queue:{org.sales.id}", "holder": str(org.oleg.id)}, htmx=True)
    assert resp.status_code == 200
    db.session.refresh(chat)
    assert chat.queue_id == org.sales.id and chat.assignee_id is None
    assert chat.events.filter_by(kind="transferred").count() == 2


def test_reassign_refusals_are_toasts(app, org, login):
    users.set_presence(org.olga, "active")
    chat = assigned_chat(app, org, org.olga)
    admin = login(org.admin)
    for data, status, text in [
        ({"to": f"user:{org.oleg.id}"}, 400, "is not Active"),  # Oleg is Offline
        ({"to": f"user:{org.sam.id}"}, 400, "not a member of this chat"),
        ({"to": "nobody"}, 400, "Choose an operator or a queue"),
        ({"to": "queue:9999"}, 404, "There is no such queue."),
    ]:
        resp = admin.post(f"/board/chats/{chat.id}/reassign", data, htmx=True)
        assert resp.status_code == status, data
        assert resp.headers["X-Switchboard-Toast"] == "1"
        assert text in resp.get_data(as_text=True)
    db.session.refresh(chat)
    assert chat.assignee_id == org.olga.id and chat.events.filter_by(kind="transferred").count() == 0


def test_racing_reassigns_leave_one_consistent_result(app, org, login):
    """Two supervisors look at the same board and move the same chat to different
    operators: the second sees a conflict, not a silent second move."""
    pat = users.create_user("Pat Operator", "pat@example.com", "pat password 12", "operator",
                            "en", [org.support.id])
    for user in (org.olga, org.oleg, pat):
        users.set_presence(user, "active")
    chat = assigned_chat(app, org, org.olga)
    ada, sue = login(org.admin), login(make_supervisor(org))
    for sup in (ada, sue):
        html = sup.get("/board").get_data(as_text=True)
        assert f'name="holder" value="{org.olga.id}"' in fragment(html, f"board-chat-{chat.id}",
                                                                  "</li>")
    first = ada.post(f"/board/chats/{chat.id}/reassign",
                     {"to": f"user:{org.oleg.id}", "holder": str(org.olga.id)}, htmx=True)
    second = sue.post(f"/board/chats/{chat.id}/reassign",
                      {"to": f"user:{pat.id}", "holder": str(org.olga.id)}, htmx=True)
    assert first.status_code == 200
    assert second.status_code == 409
    assert "This chat changed meanwhile" in second.get_data(as_text=True)
    db.session.refresh(chat)
    assert chat.assignee_id == org.oleg.id
    assert [e.details["to_operator_id"] for e in chat.events.filter_by(kind="transferred")] == \
        [org.oleg.id]
    # Looking again, the second supervisor can still move it: a consistent second transfer.
    sue.get("/board")
    again = sue.post(f"/board/chats/{chat.id}/reassign",
                     {"to": f"user:{pat.id}", "holder": str(org.oleg.id)}, htmx=True)
    assert again.status_code == 200
    db.session.refresh(chat)
    assert chat.assignee_id == pat.id
    moves = [(e.details["operator_id"], e.details["to_operator_id"])
             for e in chat.events.filter_by(kind="transferred")]
    assert moves == [(org.olga.id, org.oleg.id), (org.oleg.id, pat.id)]


def test_simultaneous_reassigns_one_wins(app, org, make_browser):
    """The same race with both requests really in flight together (two threads, two
    sessions): exactly one move happens and the other is refused."""
    pat = users.create_user("Pat Operator", "pat@example.com", "pat password 12", "operator",
                            "en", [org.support.id])
    for user in (org.olga, org.oleg, pat):
        users.set_presence(user, "active")
    chat = assigned_chat(app, org, org.olga)
    sue = make_supervisor(org)
    from conftest import PASSWORDS
    sups = []
    for user in (org.admin, sue):
        b = make_browser()
        b.login(user.email, PASSWORDS[user.email])
        sups.append(b)
    chat_id, olga_id, oleg_id, pat_id = chat.id, org.olga.id, org.oleg.id, pat.id
    db.session.commit()
    db.session.close()  # the threads use their own sessions; let go of ours
    barrier, results = threading.Barrier(2), {}

    def move(browser, target):
        barrier.wait()
        results[target] = browser.post(f"/board/chats/{chat_id}/reassign",
                                       {"to": f"user:{target}", "holder": str(olga_id)},
                                       htmx=True).status_code

    threads = [threading.Thread(target=move, args=(sups[0], oleg_id)),
               threading.Thread(target=move, args=(sups[1], pat_id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == [200, 409], results
    winner = next(uid for uid, status in results.items() if status == 200)
    final = db.session.get(Chat, chat_id)
    assert final.assignee_id == winner and final.status == "active"
    moves = list(db.session.scalars(db.select(ChatEvent).where(
        ChatEvent.chat_id == chat_id, ChatEvent.kind == "transferred")))
    assert [m.details["to_operator_id"] for m in moves] == [winner]


def test_close_from_the_board(app, org, login):
    users.set_presence(org.olga, "active")
    chat = assigned_chat(app, org, org.olga)
    waiting = new_chat(app, org)
    admin = login(org.admin)
    for target in (chat, waiting):
        resp = admin.post(f"/board/chats/{target.id}/close", htmx=True)
        assert resp.status_code == 200
        assert f"Chat #{target.id} is closed." in resp.get_data(as_text=True)
        assert f'id="board-chat-{target.id}"' not in resp.get_data(as_text=True)
        db.session.refresh(target)
        assert target.status == "closed" and target.closed_by_id == org.admin.id
    resp = admin.post(f"/board/chats/{chat.id}/close", htmx=True)
    assert resp.status_code == 409 and resp.headers["X-Switchboard-Toast"] == "1"
    assert "already closed" in resp.get_data(as_text=True)


# -- live -----------------------------------------------------------------------------------
class FakeSocket:
    """Records what the board socket sends; 'disconnects' after `limit` messages."""

    def __init__(self, limit):
        self.sent, self.limit = [], limit

    @property
    def connected(self):
        return len(self.sent) < self.limit

    def send(self, data):
        self.sent.append(data)


def test_socket_says_hello_then_one_refresh_per_burst(app, hub):
    sub = hub.subscribe({ALL_QUEUES, "board"})
    try:
        for i in range(5):
            hub.publish(queue_topic(i), {"html": {"en": "<li></li>"}})
        hub.publish("board", {"type": "presence", "user_id": 1})
        hub.publish(user_topic(1), {"html": {}})  # not the board's business
        ws = FakeSocket(limit=2)
        serve(ws, sub, heartbeat=5, min_interval=0)
        assert ws.sent == [HELLO, REFRESH]  # six events, one refetch
        assert sub.get(timeout=0) is None
        # Nothing happening: heartbeats; a resync after Redis came back: a refetch.
        ws = FakeSocket(limit=2)
        serve(ws, sub, heartbeat=0.01)
        assert ws.sent == [HELLO, HEARTBEAT]
        sub.put(RESYNC)
        ws = FakeSocket(limit=2)
        serve(ws, sub, heartbeat=5)
        assert ws.sent == [HELLO, REFRESH]
    finally:
        sub.close()


def test_socket_refreshes_at_most_once_per_interval(app, hub):
    sub = hub.subscribe({ALL_QUEUES, "board"})
    published = []

    class Socket(FakeSocket):
        def send(self, data):
            super().send(data)
            if data == REFRESH and len(self.sent) < self.limit:
                published.append(datetime.now())
                hub.publish("board", {})  # more keeps happening right after each refetch

    try:
        ws = Socket(limit=4)
        hub.publish("board", {})
        serve(ws, sub, heartbeat=5, min_interval=0.2)
        assert ws.sent == [HELLO, REFRESH, REFRESH, REFRESH]
        gaps = [(b - a).total_seconds() for a, b in zip(published, published[1:])]
        assert gaps and all(g >= 0.19 for g in gaps)
    finally:
        sub.close()


# -- today's times --------------------------------------------------------------------------
def test_todays_durations_add_up(app, org, login):
    midnight = datetime(2031, 3, 4, tzinfo=timezone.utc)
    now = midnight + timedelta(hours=6)
    for presence, start, end in [
        ("offline", midnight - timedelta(hours=2), midnight + timedelta(hours=1)),
        ("active", midnight + timedelta(hours=1), midnight + timedelta(hours=4, minutes=30)),
        ("away", midnight + timedelta(hours=4, minutes=30), midnight + timedelta(hours=5)),
        ("active", midnight + timedelta(hours=5), None),
    ]:
        db.session.add(UserStatusLog(user_id=org.olga.id, presence=presence, started_at=start,
                                     ended_at=end))
    db.session.commit()
    today = snapshot.today_presence(org.olga, now)
    assert today == {"active": 4.5 * 3600, "away": 1800.0, "offline": 3600.0}
    assert sum(today.values()) == (now - midnight).total_seconds()
    # The board's one-query version agrees with the service, operator by operator.
    batch = snapshot.presence_durations_for([org.olga.id, org.oleg.id], midnight, now)
    assert batch[org.olga.id] == users.presence_durations(org.olga.id, midnight, now)
    # Nothing logged for Oleg: the whole day in his current status (Offline).
    assert batch[org.oleg.id] == {"active": 0.0, "away": 0.0, "offline": 6 * 3600.0}
    assert hours_minutes(today["active"]) == "4 h 30 min"
    assert hours_minutes(today["away"]) == "30 min"


def test_todays_times_follow_status_changes_and_show_on_account_and_board(app, org, login):
    users.set_presence(org.olga, "active")
    users.set_presence(org.olga, "away", actor=org.admin, reason="supervisor")
    users.set_presence(org.olga, "active")
    first = db.session.scalar(db.select(UserStatusLog.started_at).where(
        UserStatusLog.user_id == org.olga.id).order_by(UserStatusLog.id))
    now = datetime.now(timezone.utc)
    today = snapshot.today_presence(org.olga, now)
    # The whole day is accounted for: offline until the first change, then the changes.
    since = snapshot.start_of_day(now)
    assert sum(today.values()) == pytest.approx((now - since).total_seconds(), abs=1e-3)
    assert today["offline"] == pytest.approx((first - since).total_seconds(), abs=1e-3)
    page = login(org.olga).get("/account").get_data(as_text=True)
    assert "Today:" in page and "Active 0 min" in page and "Away 0 min" in page
    board = login(org.admin).get("/board").get_data(as_text=True)
    assert "Today:" in fragment(board, f"board-operator-{org.olga.id}", "</tr>")
