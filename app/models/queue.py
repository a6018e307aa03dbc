from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

queue_members = db.Table(
    "queue_members",
    db.Column("queue_id", db.ForeignKey("chat_queues.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class ChatQueue(db.Model):
    """A group of operators that receives the chats of the channels bound to it."""

    __tablename__ = "chat_queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(120), unique=True)
    routing_mode: Mapped[str] = mapped_column(db.String(20), default="manual")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    members = db.relationship("User", secondary=queue_members, back_populates="queues",
                              order_by="User.name")
    channels = db.relationship("Channel", back_populates="queue")
