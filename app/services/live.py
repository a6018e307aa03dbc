"""What the live UI is told when something changes. Called by services after commit.

Fragments are rendered once per supported language and published; each socket sends
the copy in its operator's language. Fragments are pure functions of their arguments.
"""
from __future__ import annotations

from contextlib import nullcontext

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale

from ..models import Chat, Message
from ..realtime import publish
from ..realtime.topics import queue_topic, user_topic, visitor_topic
from . import widget_view


def _render_all(parts) -> dict[str, str]:
    """parts: list of (template, context, wrapper) -> {locale: html}."""
    ctx = nullcontext() if has_request_context() else current_app.test_request_context("/")
    out = {}
    with ctx:
        for locale in current_app.config["LANGUAGES"]:
            with force_locale(locale):
                out[locale] = "".join(wrap(render_template(t, **c)) if wrap else
                                      render_template(t, **c) for t, c, wrap in parts)
    return out


def _append_to(target_id: str):
    return lambda html: f'<div hx-swap-oob="beforeend:#{target_id}">{html}</div>'


def _delete(element_id: str) -> tuple:
    return ("live/_delete.html", {"element_id": element_id}, None)


def _send(topic: str, parts, kind: str) -> None:
    publish(topic, {"kind": kind, "html": _render_all(parts)})


def _waiting_item(chat: Chat, oob=True):
    return ("workspace/partials/_waiting_item.html", {"chat": chat, "oob": oob}, None)


def _my_item(chat: Chat):
    return ("workspace/partials/_my_chat_item.html", {"chat": chat, "oob": True}, None)


def _header(chat: Chat):
    return ("workspace/partials/_chat_header.html", {"chat": chat, "oob": True}, None)


def chat_waiting(chat: Chat, *, new: bool) -> None:
    if new:
        part = ("workspace/partials/_waiting_item.html", {"chat": chat, "oob": False},
                _append_to("waiting-list"))
        _send(queue_topic(chat.queue_id), [part], "chat_new")
    else:
        _send(queue_topic(chat.queue_id), [_waiting_item(chat)], "chat_waiting")


def chat_taken(chat: Chat) -> None:
    _send(queue_topic(chat.queue_id), [_delete(f"waiting-chat-{chat.id}"), _header(chat)],
          "chat_taken")
    part = ("workspace/partials/_my_chat_item.html", {"chat": chat, "oob": False},
            _append_to("my-chats"))
    _send(user_topic(chat.assignee_id), [_delete(f"my-chat-{chat.id}"), part], "chat_mine")
    publish(visitor_topic(chat.channel_id, chat.identity.external_id),
            {"type": "chat", "chat": widget_view.chat_json(chat)})


def inbound_processed(results) -> None:
    """After a committed batch of inbound messages: tell the queues and the visitors."""
    ctx = nullcontext() if has_request_context() else current_app.test_request_context("/")
    with ctx:
        for message, chat_is_new in results:
            if chat_is_new:
                chat_waiting(message.chat, new=True)
            message_added(message)


def message_added(message: Message) -> None:
    chat = message.chat
    parts = [("workspace/partials/_message.html", {"message": message, "oob": False},
              _append_to(f"messages-{chat.id}"))]
    if chat.status in ("queued", "offered"):
        parts.append(_waiting_item(chat))
    _send(queue_topic(chat.queue_id), parts, "message")
    if chat.assignee_id and chat.is_open:
        _send(user_topic(chat.assignee_id), [_my_item(chat)], "chat_mine")
    if message.direction == "in":
        # Echo the stored copy to the visitor (replaces their optimistic bubble).
        publish(visitor_topic(chat.channel_id, chat.identity.external_id),
                {"type": "message", "message": widget_view.message_json(message, chat.channel)})


def message_updated(message: Message) -> None:
    chat = message.chat
    _send(queue_topic(chat.queue_id),
          [("workspace/partials/_message.html", {"message": message, "oob": True}, None)],
          "message_status")
    if message.direction == "out" and message.status != "pending":
        publish(visitor_topic(chat.channel_id, chat.identity.external_id),
                {"type": "message", "message": widget_view.message_json(message, chat.channel)})


def chat_read(chat: Chat) -> None:
    if chat.assignee_id:
        _send(user_topic(chat.assignee_id), [_my_item(chat)], "chat_mine")


def chat_closed(chat: Chat, previous_assignee_id: int | None) -> None:
    _send(queue_topic(chat.queue_id), [_delete(f"waiting-chat-{chat.id}"), _header(chat)],
          "chat_closed")
    if previous_assignee_id:
        _send(user_topic(previous_assignee_id), [_delete(f"my-chat-{chat.id}")], "chat_mine")
    publish(visitor_topic(chat.channel_id, chat.identity.external_id),
            {"type": "chat", "chat": widget_view.chat_json(chat)})
