"""What the live UI is told when something changes. Called by services after commit.

Fragments are rendered once per language in use and published; each socket sends the
copy in its operator's language. Fragments are pure functions of their arguments.
Everything one change produces for one topic goes out as one message.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import nullcontext

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale

from ..extensions import db
from ..models import Chat, ChatEvent, Message, User
from ..realtime import publish
from ..realtime.topics import queue_topic, user_topic, visitor_topic
from . import widget_view

_LOCALES_TTL = 30.0


def _locales() -> list[str]:
    """The languages operators use: no need to render Russian for an English team.
    Re-read every 30 s; a socket whose language is missing falls back to English."""
    cache = current_app.extensions.setdefault("switchboard_locales", {"at": 0.0, "value": None})
    now = time.monotonic()
    if cache["value"] is None or now - cache["at"] > _LOCALES_TTL:
        used = set(db.session.scalars(db.select(User.language).where(User.is_enabled.is_(True))
                                      .distinct()))
        value = [loc for loc in current_app.config["LANGUAGES"] if loc in used or loc == "en"]
        cache.update(at=now, value=value)
    return cache["value"]


def _request_context():
    return nullcontext() if has_request_context() else current_app.test_request_context("/")


class Outbox:
    """Collects fragments per topic during one change, then publishes one event per topic."""

    def __init__(self):
        self.parts: dict[str, list] = defaultdict(list)
        self.raw: list[tuple[str, dict]] = []

    def add(self, topic: str, template: str, wrap=None, **context) -> None:
        self.parts[topic].append((template, context, wrap))

    def add_raw(self, topic: str, event: dict) -> None:
        self.raw.append((topic, event))

    def send(self) -> None:
        if self.parts:
            with _request_context():
                locales = _locales()
                for topic, parts in self.parts.items():
                    html = {}
                    for locale in locales:
                        with force_locale(locale):
                            html[locale] = "".join(
                                wrap(render_template(t, **c)) if wrap else render_template(t, **c)
                                for t, c, wrap in parts)
                    publish(topic, {"html": html})
        for topic, event in self.raw:
            publish(topic, event)


def _append_to(target_id: str):
    return lambda html: f'<div hx-swap-oob="beforeend:#{target_id}">{html}</div>'


def _delete(box: Outbox, topic: str, element_id: str) -> None:
    box.add(topic, "live/_delete.html", element_id=element_id)


def _visitor(chat: Chat) -> str:
    return visitor_topic(chat.channel_id, chat.identity.external_id)


def _chat_state(box: Outbox, chat: Chat) -> None:
    """The chat's list item where it lives now: waiting list or the assignee's chats."""
    if chat.status in ("queued", "offered"):
        box.add(queue_topic(chat.queue_id), "workspace/partials/_waiting_item.html", chat=chat,
                oob=True)
    elif chat.status == "active" and chat.assignee_id:
        box.add(user_topic(chat.assignee_id), "workspace/partials/_my_chat_item.html", chat=chat,
                oob=True)


def _message(box: Outbox, message: Message) -> None:
    chat = message.chat
    box.add(queue_topic(chat.queue_id), "workspace/partials/_message.html",
            _append_to(f"messages-{chat.id}"), message=message, oob=False)
    if message.direction == "in":
        # Echo the stored copy to the visitor (it replaces their optimistic bubble).
        box.add_raw(_visitor(chat), {"type": "message",
                                     "message": widget_view.message_json(message, chat.channel)})


def inbound_processed(results) -> None:
    """After a committed batch of inbound messages: tell the queues and the visitors."""
    box = Outbox()
    new_chats, touched = {}, {}
    for message, chat_is_new in results:
        (new_chats if chat_is_new else touched)[message.chat_id] = message.chat
    for chat in new_chats.values():
        box.add(queue_topic(chat.queue_id), "workspace/partials/_waiting_item.html",
                _append_to("waiting-list"), chat=chat, oob=False)
    for message, _new in results:
        _message(box, message)
    for chat_id, chat in touched.items():
        if chat_id not in new_chats:
            _chat_state(box, chat)
    box.send()


def chat_waiting(chat: Chat, *, new: bool) -> None:
    box = Outbox()
    if new:
        box.add(queue_topic(chat.queue_id), "workspace/partials/_waiting_item.html",
                _append_to("waiting-list"), chat=chat, oob=False)
    else:
        _chat_state(box, chat)
    box.send()


def chats_changed(chats) -> None:
    """Many waiting chats changed state at once (a routing pass): one message per topic."""
    box = Outbox()
    for chat in chats:
        _chat_state(box, chat)
    box.send()


def chat_taken(chat: Chat) -> None:
    box = Outbox()
    topic = queue_topic(chat.queue_id)
    _delete(box, topic, f"waiting-chat-{chat.id}")
    box.add(topic, "workspace/partials/_chat_header.html", chat=chat, oob=True)
    mine = user_topic(chat.assignee_id)
    _delete(box, mine, f"my-chat-{chat.id}")
    box.add(mine, "workspace/partials/_my_chat_item.html", _append_to("my-chats"), chat=chat,
            oob=False)
    box.add_raw(_visitor(chat), {"type": "chat", "chat": widget_view.chat_json(chat)})
    box.send()


def message_added(message: Message) -> None:
    box = Outbox()
    _message(box, message)
    if message.chat.is_open:
        _chat_state(box, message.chat)
    box.send()


def message_updated(message: Message) -> None:
    chat = message.chat
    box = Outbox()
    box.add(queue_topic(chat.queue_id), "workspace/partials/_message.html", message=message,
            oob=True)
    if message.direction == "out" and message.status != "pending":
        box.add_raw(_visitor(chat), {"type": "message",
                                     "message": widget_view.message_json(message, chat.channel)})
    box.send()


def chat_read(chat: Chat) -> None:
    box = Outbox()
    _chat_state(box, chat)
    box.send()


def chat_closed(chat: Chat, previous_assignee_id: int | None) -> None:
    box = Outbox()
    topic = queue_topic(chat.queue_id)
    _delete(box, topic, f"waiting-chat-{chat.id}")
    box.add(topic, "workspace/partials/_chat_header.html", chat=chat, oob=True)
    if previous_assignee_id:
        _delete(box, user_topic(previous_assignee_id), f"my-chat-{chat.id}")
    box.add_raw(_visitor(chat), {"type": "chat", "chat": widget_view.chat_json(chat)})
    box.send()


def chat_requeued(chat: Chat, previous_assignee_id: int | None, *, announce: bool = True) -> None:
    """The chat left its operator (transfer, timeout, status change): it leaves their
    list, and (unless it went straight to someone) appears in its queue's waiting list.
    The reason shows in the transcript for everyone watching it."""
    box = Outbox()
    if previous_assignee_id:
        _delete(box, user_topic(previous_assignee_id), f"my-chat-{chat.id}")
    topic = queue_topic(chat.queue_id)
    if announce and chat.status in ("queued", "offered"):
        box.add(topic, "workspace/partials/_waiting_item.html", _append_to("waiting-list"),
                chat=chat, oob=False)
    box.add(topic, "workspace/partials/_chat_header.html", chat=chat, oob=True)
    from .history import TRANSCRIPT_KINDS
    event = chat.events.order_by(None).where(ChatEvent.kind.in_(TRANSCRIPT_KINDS)) \
        .order_by(ChatEvent.id.desc()).first()
    if event is not None:
        box.add(topic, "workspace/partials/_event_note.html", _append_to(f"messages-{chat.id}"),
                event=event)
    box.send()


def presence_changed(user: User) -> None:
    """The operator's status changed (maybe not by them): their tabs show it and refetch
    their lists."""
    box = Outbox()
    topic = user_topic(user.id)
    box.add(topic, "workspace/partials/_presence.html", user=user, oob=True)
    box.add(topic, "live/_ws_hello.html")
    box.add_raw("board", {"type": "presence", "user_id": user.id})
    box.send()


def contact_changed(contact) -> None:
    """The contact's picture or name changed: their open chats show it now (list items
    and the open chat's header), not at the next reload."""
    from ..models import CHAT_OPEN_STATUSES
    chats = list(db.session.scalars(db.select(Chat).where(
        Chat.contact_id == contact.id, Chat.status.in_(CHAT_OPEN_STATUSES))))
    if not chats:
        return
    box = Outbox()
    for chat in chats:
        _chat_state(box, chat)
        box.add(queue_topic(chat.queue_id), "workspace/partials/_chat_header.html", chat=chat,
                oob=True)
    box.send()
