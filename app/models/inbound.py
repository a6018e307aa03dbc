from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class InboundEvent(db.Model):
    """A raw event from a channel, stored before anything else happens to it.

    Unique per channel and provider event id, so a provider's retry (or a widget's
    resend) is a no-op. `processed_at` stays empty until the worker has turned it into
    contact, chat and message; a sweeper re-enqueues what waits too long.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (db.UniqueConstraint("channel_id", "external_id",
                                          name="uq_inbound_channel_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(db.ForeignKey("channels.id"))
    external_id: Mapped[str] = mapped_column(db.String(200))
    sender_ref: Mapped[str | None] = mapped_column(db.String(200), nullable=True, index=True)
    payload: Mapped[dict] = mapped_column(db.JSON)
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    processed_at = mapped_column(UTCDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(db.Text, nullable=True)

    channel = db.relationship("Channel")
