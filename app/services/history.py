"""A chat's history in words: every assignment, transfer and timeout with who and why,
worded when shown (so each reader gets their language)."""
from __future__ import annotations

from flask_babel import gettext as _

from ..extensions import db
from ..models import ChatEvent, ChatQueue, User

# Shown in the transcript too, between the messages: what changed hands and why.
TRANSCRIPT_KINDS = ("transferred", "requeued", "answer_timeout", "offer_expired", "declined",
                    "auto_closed", "offline_reply")

_REASONS = {
    "away": lambda: _("the operator went Away"),
    "offline": lambda: _("the operator went Offline"),
    "disconnected": lambda: _("the operator’s workspace was closed for too long"),
    "deactivated": lambda: _("the operator’s account was deactivated"),
    "supervisor": lambda: _("a supervisor changed the operator’s status"),
    "unanswered": lambda: _("the customer waited too long for an answer"),
    "transfer": lambda: _("transfer"),
}


def _user(user_id) -> str:
    if not user_id:
        return ""
    user = db.session.get(User, user_id)
    return user.name if user else _("a deleted user")


def _queue(queue_id) -> str:
    if not queue_id:
        return ""
    queue = db.session.get(ChatQueue, queue_id)
    return queue.name if queue else "?"


def why_routed(d: dict) -> str:
    """Why this operator got the chat, from the offer's details."""
    if d.get("mode") == "manual":
        return _("Manual distribution: offered to every Active operator of the queue.")
    load = _("load %(load)s of %(max)s before this chat (weight %(w)s)",
             load=d.get("load", 0), max=d.get("max_load", 0), w=d.get("weight", 1))
    if d.get("mode") == "least_loaded":
        return _("Least loaded: %(name)s had the most free capacity of %(n)s Active operators "
                 "(%(load)s).", name=d.get("operator", ""), n=d.get("candidates", 0), load=load)
    return _("Round robin: it was %(name)s’s turn, the longest without a new chat of the %(n)s "
             "Active operators who had room (%(load)s).", name=d.get("operator", ""),
             n=d.get("fitting", d.get("candidates", 0)), load=load)


PRIORITIES = {0: lambda: _("Normal"), 1: lambda: _("High"), 2: lambda: _("Urgent")}


def why_here(chat) -> str | None:
    """Why the chat is where it is now: the latest hand-over, in words."""
    # order_by(None): the relationship's own ascending order would come first.
    event = chat.events.order_by(None).where(
        ChatEvent.kind.in_(("offered", "transferred", "started"))) \
        .order_by(ChatEvent.id.desc()).first()
    return describe(event) if event is not None else None


def describe(event: ChatEvent) -> str:
    d = event.details or {}
    actor = event.actor.name if event.actor else ""
    kind = event.kind
    if kind == "created":
        return _("Chat started in %(queue)s.", queue=_queue(d.get("queue_id")))
    if kind == "started":
        return _("%(name)s started the chat from the contact card.", name=actor)
    if kind == "offered":
        if d.get("mode") == "manual" or not d.get("operator_id"):
            return why_routed(d)
        return _("Offered to %(name)s. %(why)s", name=_user(d.get("operator_id")),
                 why=why_routed(d))
    if kind == "unoffered":
        return _("Nobody in the queue was Active any more: the chat waits for the next one.")
    if kind == "accepted":
        return _("%(name)s accepted the chat.", name=actor)
    if kind == "offer_expired":
        return _("%(name)s did not accept the offer in time.", name=_user(d.get("operator_id")))
    if kind == "declined":
        return _("%(name)s passed on the offer.", name=_user(d.get("operator_id")))
    if kind == "transferred":
        comment = d.get("comment") or ""
        if d.get("to_operator_id"):
            text = _("%(actor)s transferred the chat to %(name)s.", actor=actor,
                     name=_user(d.get("to_operator_id")))
        else:
            text = _("%(actor)s transferred the chat to the queue %(queue)s.", actor=actor,
                     queue=_queue(d.get("to_queue_id")))
        return f"{text} {_('Comment:')} “{comment}”" if comment else text
    if kind == "requeued":
        reason = _REASONS.get(d.get("reason"), lambda: d.get("reason") or "")()
        if actor:
            return _("Back to the queue %(queue)s: %(reason)s (changed by %(actor)s).",
                     queue=_queue(d.get("to_queue_id")), reason=reason, actor=actor)
        return _("Back to the queue %(queue)s: %(reason)s.", queue=_queue(d.get("to_queue_id")),
                 reason=reason)
    if kind == "answer_timeout":
        return _("%(name)s did not answer in time: the chat went back to the queue %(queue)s.",
                 name=_user(d.get("operator_id")), queue=_queue(d.get("to_queue_id")))
    if kind == "auto_closed":
        return _("Closed automatically: no message from the customer for %(n)s minutes.",
                 n=d.get("minutes", 0))
    if kind == "priority":
        return _("%(actor)s set the priority to %(p)s.", actor=actor,
                 p=PRIORITIES.get(d.get("to"), lambda: str(d.get("to")))())
    if kind == "offline_reply":
        return _("The team was away: the customer got the away message.")
    if kind == "closed":
        return _("%(name)s closed the chat.", name=actor) if actor else _("Closed.")
    return kind
