from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class Contact(db.Model):
    """A person we talk to, across any number of channel identities."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(200))
    email: Mapped[str | None] = mapped_column(db.String(254), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(db.String(40), nullable=True, index=True)
    avatar_key: Mapped[str | None] = mapped_column(db.String(200), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow)

    identities = db.relationship("ContactIdentity", back_populates="contact",
                                 order_by="ContactIdentity.id")


class ContactIdentity(db.Model):
    """The contact as known to one channel: a visitor id, a Telegram user id, a phone..."""

    __tablename__ = "contact_identities"
    __table_args__ = (db.UniqueConstraint("channel_id", "external_id",
                                          name="uq_identity_channel_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(db.ForeignKey("contacts.id"), index=True)
    channel_id: Mapped[int] = mapped_column(db.ForeignKey("channels.id"))
    external_id: Mapped[str] = mapped_column(db.String(200))
    display_name: Mapped[str | None] = mapped_column(db.String(200), nullable=True)
    is_reachable: Mapped[bool] = mapped_column(default=True)
    details: Mapped[dict] = mapped_column(db.JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contact = db.relationship("Contact", back_populates="identities")
    channel = db.relationship("Channel")
