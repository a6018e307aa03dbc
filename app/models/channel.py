import secrets

from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class Channel(db.Model):
    """One connected source of conversations (a site widget, a bot, a page...).

    `settings` holds the adapter's plain settings as JSON; secrets (tokens) go in
    `secrets_encrypted` and are never rendered.
    """

    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(db.String(20), index=True)
    name: Mapped[str] = mapped_column(db.String(120))
    public_id: Mapped[str] = mapped_column(db.String(32), unique=True, default=new_public_id)
    queue_id: Mapped[int] = mapped_column(db.ForeignKey("chat_queues.id"))
    settings: Mapped[dict] = mapped_column(db.JSON, default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(db.Text, nullable=True)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # What one chat of this channel costs an operator's load (a WhatsApp chat may cost more).
    chat_weight: Mapped[int] = mapped_column(default=1, server_default="1")
    last_event_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    queue = db.relationship("ChatQueue", back_populates="channels")

    def setting(self, key, default=None):
        return (self.settings or {}).get(key, default)
