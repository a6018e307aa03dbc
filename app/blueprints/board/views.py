"""The supervisor board: every queue and operator, live, and the supervisor's actions.

The page is one fragment (`board/_panels.html`) built from `snapshot.build()`; actions are
htmx POSTs that answer with the fresh fragment; the websocket only says "refetch"."""
import logging
import time

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from simple_websocket import ConnectionClosed

from ...extensions import db, sock
from ...models import PRESENCES, ChatQueue, User
from ...realtime.hub import current_hub
from ...realtime.topics import ALL_QUEUES
from ...realtime.views import HEARTBEAT_SECONDS, OpenTab, same_origin
from ...services import access, chats, routing, users
from ...services.errors import Conflict, NotFound, ServiceError
from . import bp, snapshot

log = logging.getLogger(__name__)

BOARD_TOPIC = "board"  # operators' status changes
# Socket messages (plain text): the page refetches its panels on "hello" and "refresh".
HELLO, REFRESH, HEARTBEAT = "hello", "refresh", "ping"
# However busy the team, one board socket asks for at most one refetch per second.
MIN_REFRESH_INTERVAL = 1.0


@bp.before_request
@login_required
def _supervisors_only():
    if not current_user.sees_all_queues:
        abort(403)


# -- helpers for templates ------------------------------------------------------------------
def hours_minutes(seconds) -> str:
    """Coarse duration for daily totals: "0 min", "20 min", "3 h 12 min"."""
    minutes = int((seconds or 0) // 60)
    if minutes < 60:
        return _("%(m)s min", m=minutes)
    hours, rest = divmod(minutes, 60)
    return _("%(h)s h %(m)s min", h=hours, m=rest)


@bp.app_template_filter("hours_minutes")
def _hours_minutes_filter(seconds):
    return hours_minutes(seconds)


@bp.app_context_processor
def _board_helpers():
    # Called only where a template asks for it (the account page, the board).
    return {"today_presence": snapshot.today_presence}


def presence_label(value: str) -> str:
    return {"active": _("Active"), "away": _("Away"), "offline": _("Offline")}.get(value, value)


def mode_label(value: str) -> str:
    return {"manual": _("Manual"), "round_robin": _("Round robin"),
            "least_loaded": _("Least loaded")}.get(value, value)


def _panels(toast: str | None = None):
    return render_template("board/_panels.html", board=snapshot.build(), toast=toast,
                           presence_label=presence_label, mode_label=mode_label)


# -- pages ----------------------------------------------------------------------------------
@bp.get("/board")
def index():
    return render_template("board/index.html", board=snapshot.build(),
                           presence_label=presence_label, mode_label=mode_label)


@bp.get("/board/panels")
def panels():
    return _panels()


# -- actions --------------------------------------------------------------------------------
@bp.post("/board/operators/<int:user_id>/presence")
def presence(user_id):
    value = request.form.get("presence")
    if value not in PRESENCES:
        raise ServiceError(_("Unknown status."))
    user = db.session.get(User, user_id)
    if user is None or not user.is_enabled:
        raise NotFound(_("There is no such operator."))
    users.set_presence(user, value, actor=current_user, reason="supervisor")
    return _panels(_("Status of %(name)s: %(status)s.", name=user.name,
                     status=presence_label(value)))


@bp.post("/board/chats/<int:chat_id>/reassign")
def reassign(chat_id):
    kind, _sep, raw_id = (request.form.get("to") or "").partition(":")
    if kind not in ("user", "queue") or not raw_id.isdigit():
        raise ServiceError(_("Choose an operator or a queue to transfer the chat to."))
    chat = access.get_visible_chat(current_user, chat_id)
    # The board the supervisor looked at may be a second old: if someone else has moved
    # the chat meanwhile, say so rather than move it again from under them. `transfer`
    # re-checks the same holder in its conditional UPDATE.
    holder = request.form.get("holder")
    if holder is not None and chat.is_open and holder != str(chat.assignee_id or ""):
        raise Conflict(_("This chat changed meanwhile; look again."))
    comment = request.form.get("comment", "")
    if kind == "user":
        chat = routing.transfer(current_user, chat_id, to_user_id=int(raw_id), comment=comment)
        message = _("Chat #%(id)s is now with %(name)s.", id=chat.id, name=chat.assignee.name) \
            if chat.assignee else None
    else:
        chat = routing.transfer(current_user, chat_id, to_queue_id=int(raw_id), comment=comment)
        queue = db.session.get(ChatQueue, chat.queue_id)
        message = _("Chat #%(id)s went to the queue %(queue)s.", id=chat.id, queue=queue.name)
    return _panels(message)


@bp.post("/board/chats/<int:chat_id>/close")
def close(chat_id):
    chat = chats.close_chat(current_user, chat_id)
    return _panels(_("Chat #%(id)s is closed.", id=chat.id))


# -- live -----------------------------------------------------------------------------------
def _drain(sub) -> None:
    while sub.get(timeout=0) is not None:
        pass


def serve(ws, sub, *, heartbeat: float = HEARTBEAT_SECONDS,
          min_interval: float = MIN_REFRESH_INTERVAL, on_alive=None) -> None:
    """Tell the page to refetch whenever something it shows may have changed.

    Any event (a queue's chats, an operator's status, a resync after Redis came back) is
    a reason to refetch; a burst becomes one message, at most one per `min_interval`.
    Subscribed before the hello, so nothing between the two can be missed."""
    ws.send(HELLO)
    last = 0.0
    while ws.connected:
        event = sub.get(timeout=heartbeat)
        if on_alive is not None:
            on_alive()
        if event is None:
            ws.send(HEARTBEAT)
            continue
        pause = last + min_interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # let the burst finish: one refetch covers it all
        _drain(sub)
        ws.send(REFRESH)
        last = time.monotonic()


@sock.route("/board/ws", bp=bp)
def board_socket(ws):
    if not current_user.is_authenticated or not current_user.sees_all_queues \
            or not same_origin():
        log.info("board websocket refused")
        ws.close(reason=1008, message="not allowed")
        return
    sub = current_hub().subscribe({ALL_QUEUES, BOARD_TOPIC})
    # An open board counts as an open console tab (a supervisor who is Active in a queue
    # and watches only the board keeps their chats).
    tab = OpenTab(current_user.id)
    # The socket lives for hours: give the database connection back to the pool now.
    db.session.close()
    try:
        serve(ws, sub, on_alive=tab.alive)
    except ConnectionClosed:
        pass
    finally:
        sub.close()
        tab.closed()
