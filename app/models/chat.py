from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

CHAT_OPEN_STATUSES = ("queued", "offered", "active")


class Chat(db.Model):
    """One conversation with a contact on one channel, from first message to close.

    `open_identity_id` equals `identity_id` while the chat is open and is NULL once closed:
    its unique constraint guarantees one open chat per identity even with many workers.
    """

    __tablename__ = "chats"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(db.ForeignKey("channels.id"), index=True)
    queue_id: Mapped[int] = mapped_column(db.ForeignKey("chat_queues.id"), index=True)
    contact_id: Mapped[int] = mapped_column(db.ForeignKey("contacts.id"), index=True)
    identity_id: Mapped[int] = mapped_column(db.ForeignKey("contact_identities.id"), index=True)
    open_identity_id: Mapped[int | None] = mapped_column(
        db.ForeignKey("contact_identities.id"), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(db.String(12), default="queued", index=True)
    assignee_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True,
                                                    index=True)
    # Routing. Waiting chats go out by priority, then oldest first; `weight` (from the
    # channel) counts against the operator's load; in the auto modes an offer is held for
    # one operator (`offered_to`) until `offer_expires_at`; `routing_skip` lists who let
    # it expire or declined, so it goes round before coming back to them.
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    weight: Mapped[int] = mapped_column(default=1, server_default="1")
    offered_to_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True,
                                                      index=True)
    offer_expires_at = mapped_column(UTCDateTime, nullable=True)
    routing_skip: Mapped[list] = mapped_column(db.JSON, default=list,
                                               server_default=db.text("'[]'"))
    # Timers: the customer's oldest unanswered message, their latest message.
    awaiting_since = mapped_column(UTCDateTime, nullable=True)
    last_inbound_at = mapped_column(UTCDateTime, nullable=True)
    offline_notified: Mapped[bool] = mapped_column(default=False, server_default=db.false())
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    offered_at = mapped_column(UTCDateTime, nullable=True)
    accepted_at = mapped_column(UTCDateTime, nullable=True)
    first_response_at = mapped_column(UTCDateTime, nullable=True)
    closed_at = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True)
    last_message_at = mapped_column(UTCDateTime, default=utcnow)
    last_message_preview: Mapped[str] = mapped_column(db.String(200), default="")
    # Highest message id the assignee has seen; unread = inbound messages above it.
    operator_read_message_id: Mapped[int] = mapped_column(default=0)
    unread_count: Mapped[int] = mapped_column(default=0)

    channel = db.relationship("Channel")
    queue = db.relationship("ChatQueue")
    contact = db.relationship("Contact")
    identity = db.relationship("ContactIdentity", foreign_keys=[identity_id])
    open_identity = db.relationship("ContactIdentity", foreign_keys=[open_identity_id],
                                    post_update=False)
    assignee = db.relationship("User", foreign_keys=[assignee_id])
    offered_to = db.relationship("User", foreign_keys=[offered_to_id])
    closed_by = db.relationship("User", foreign_keys=[closed_by_id])
    messages = db.relationship("Message", back_populates="chat", order_by="Message.id",
                               lazy="dynamic")
    stats = db.relationship("ChatStats", uselist=False, back_populates="chat")
    events = db.relationship("ChatEvent", order_by="ChatEvent.id", lazy="dynamic",
                             back_populates="chat")

    @property
    def is_open(self) -> bool:
        return self.status in CHAT_OPEN_STATUSES


class Message(db.Model):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(db.ForeignKey("chats.id"), index=True)
    direction: Mapped[str] = mapped_column(db.String(8))  # in | out | system
    author_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True)
    text: Mapped[str] = mapped_column(db.Text, default="")
    status: Mapped[str] = mapped_column(db.String(12), default="received")
    error: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    # Provider message id: receipts (delivered, seen) find our message by it.
    external_id: Mapped[str | None] = mapped_column(db.String(200), nullable=True, index=True)
    client_id: Mapped[str | None] = mapped_column(db.String(64), nullable=True)
    inbound_event_id: Mapped[int | None] = mapped_column(
        db.ForeignKey("inbound_events.id"), unique=True, nullable=True)
    sent_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status_changed_at = mapped_column(UTCDateTime, default=utcnow)
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    chat = db.relationship("Chat", back_populates="messages")
    author = db.relationship("User")
    attachments = db.relationship("Attachment", back_populates="message",
                                  order_by="Attachment.id")


class Attachment(db.Model):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(db.ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(db.String(255))
    mime: Mapped[str] = mapped_column(db.String(120))
    size: Mapped[int] = mapped_column()
    storage_key: Mapped[str] = mapped_column(db.String(255))
    is_image: Mapped[bool] = mapped_column(default=False)
    width: Mapped[int | None] = mapped_column(nullable=True)
    height: Mapped[int | None] = mapped_column(nullable=True)

    message = db.relationship("Message", back_populates="attachments")


class ChatEvent(db.Model):
    """What happened to a chat and why: created, offered, accepted, closed, transfers..."""

    __tablename__ = "chat_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(db.ForeignKey("chats.id"), index=True)
    kind: Mapped[str] = mapped_column(db.String(30))
    actor_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True)
    details: Mapped[dict] = mapped_column(db.JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    actor = db.relationship("User")
    chat = db.relationship("Chat", back_populates="events")


class ChatStats(db.Model):
    """One row per closed chat, written by the stats job; reports read only this."""

    __tablename__ = "chat_stats"
    chat_id: Mapped[int] = mapped_column(db.ForeignKey("chats.id"), primary_key=True)
    queue_wait_seconds: Mapped[float | None] = mapped_column(nullable=True)
    time_to_accept_seconds: Mapped[float | None] = mapped_column(nullable=True)
    first_response_seconds: Mapped[float | None] = mapped_column(nullable=True)
    handle_seconds: Mapped[float | None] = mapped_column(nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(nullable=True)
    messages_in: Mapped[int] = mapped_column(default=0)
    messages_out: Mapped[int] = mapped_column(default=0)
    attachments_in: Mapped[int] = mapped_column(default=0)
    attachments_out: Mapped[int] = mapped_column(default=0)
    computed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    chat = db.relationship("Chat", back_populates="stats")
