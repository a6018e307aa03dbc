from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

queue_members = db.Table(
    "queue_members",
    db.Column("queue_id", db.ForeignKey("chat_queues.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


ROUTING_MODES = ("manual", "round_robin", "least_loaded")


class ChatQueue(db.Model):
    """A group of operators that receives the chats of the channels bound to it, with its
    distribution mode, the timers of every chat state and its working hours."""

    __tablename__ = "chat_queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(120), unique=True)
    routing_mode: Mapped[str] = mapped_column(db.String(20), default="manual")
    # Timers (None = off). An offer (auto modes) not accepted in time goes to the next
    # operator; an assigned chat whose customer waits this long for an answer goes back
    # to the queue (or to the fallback queue); an operator without an open tab this long
    # loses their chats; a chat without a customer message this long closes itself.
    offer_timeout_seconds: Mapped[int] = mapped_column(default=30, server_default="30")
    answer_timeout_minutes: Mapped[int | None] = mapped_column(nullable=True, default=10)
    fallback_queue_id: Mapped[int | None] = mapped_column(
        db.ForeignKey("chat_queues.id", ondelete="SET NULL"), nullable=True)
    disconnect_minutes: Mapped[int] = mapped_column(default=5, server_default="5")
    inactivity_close_minutes: Mapped[int | None] = mapped_column(nullable=True)
    closing_message: Mapped[str] = mapped_column(db.Text, default="", server_default="")
    # Working hours: when `hours_enabled`, `hours` maps weekday ("0" = Monday) to a list of
    # ["HH:MM", "HH:MM"] intervals in `timezone`; holidays are closed all day.
    hours_enabled: Mapped[bool] = mapped_column(default=False, server_default=db.false())
    timezone: Mapped[str] = mapped_column(db.String(64), default="UTC", server_default="UTC")
    hours: Mapped[dict] = mapped_column(db.JSON, default=dict, server_default=db.text("'{}'"))
    # Sent once per chat when it arrives while the queue is closed or nobody is Active.
    offline_message: Mapped[str] = mapped_column(db.Text, default="", server_default="")
    ask_email_offline: Mapped[bool] = mapped_column(default=False, server_default=db.false())
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    members = db.relationship("User", secondary=queue_members, back_populates="queues",
                              order_by="User.name")
    channels = db.relationship("Channel", back_populates="queue")
    fallback_queue = db.relationship("ChatQueue", remote_side=[id])
    holidays = db.relationship("QueueHoliday", back_populates="queue",
                               order_by="QueueHoliday.starts_on", cascade="all, delete-orphan")


class QueueHoliday(db.Model):
    """Days the queue is closed (inclusive range, in the queue's time zone)."""

    __tablename__ = "queue_holidays"
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(db.ForeignKey("chat_queues.id", ondelete="CASCADE"),
                                          index=True)
    name: Mapped[str] = mapped_column(db.String(120), default="")
    starts_on = mapped_column(db.Date, nullable=False)
    ends_on = mapped_column(db.Date, nullable=False)

    queue = db.relationship("ChatQueue", back_populates="holidays")
