"""The operator's websocket: server -> browser only. Actions are ordinary htmx POSTs."""
import logging
import time
from urllib.parse import urlsplit

from flask import Blueprint, render_template, request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from ..extensions import db, sock
from ..services import access, users
from .hub import RESYNC, current_hub
from .topics import ALL_QUEUES, queue_topic, user_topic

bp = Blueprint("realtime", __name__)
log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20
# How often an open tab records that it is still there (for the disconnect timer).
TOUCH_SECONDS = 30


def same_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return True  # not a browser; the session cookie still has to be valid
    # Hostnames, not ports: some clients send Host without the port.
    return urlsplit(origin).hostname == urlsplit("//" + request.host).hostname


def operator_topics(user) -> set[str]:
    topics = {user_topic(user.id)}
    if user.sees_all_queues:
        topics.add(ALL_QUEUES)
    else:
        topics.update(queue_topic(q) for q in access.queue_ids_for(user))
    return topics


class OpenTab:
    """Tells the worker a console tab (workspace or board) is open: on connect, every
    TOUCH_SECONDS while it lives, and when it closes (the tab timer counts from then)."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        users.touch_connection(user_id)
        self.touched = time.monotonic()

    def alive(self) -> None:
        if time.monotonic() - self.touched >= TOUCH_SECONDS:
            self.touched = time.monotonic()
            try:
                users.touch_connection(self.user_id)
            finally:
                db.session.close()

    def closed(self) -> None:
        try:
            users.touch_connection(self.user_id)
        except Exception:  # noqa: BLE001 - the database may be what failed
            log.warning("could not record that a tab of user %s closed", self.user_id)
        finally:
            db.session.close()


@sock.route("/ws", bp=bp)
def operator_socket(ws):
    if not current_user.is_authenticated or not same_origin():
        log.info("websocket refused (%s)", "origin" if current_user.is_authenticated else "login")
        ws.close(reason=1008, message="not allowed")
        return
    user_id, locale = current_user.id, current_user.language
    sub = current_hub().subscribe(operator_topics(current_user))
    tab = OpenTab(user_id)
    # Rendered while the session is open (the commit above expired current_user);
    # later renders find its attributes loaded.
    hello = render_template("live/_ws_hello.html")
    # The socket lives for hours: give the database connection back to the pool now.
    db.session.close()
    try:
        # Subscribed first, then tell the page to refetch what it shows: nothing that
        # happens in between can be missed.
        ws.send(hello)
        while ws.connected:
            event = sub.get(timeout=HEARTBEAT_SECONDS)
            tab.alive()
            if event is None:
                ws.send("<!-- heartbeat -->")
            elif event is RESYNC or event.get("type") == "resync":
                ws.send(hello)
            else:
                html = event.get("html", {})
                ws.send(html.get(locale) or html.get("en", ""))
    except ConnectionClosed:
        pass
    finally:
        sub.close()
        tab.closed()
        log.debug("operator %s socket closed", user_id)
