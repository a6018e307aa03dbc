from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class Organization(db.Model):
    """The one organisation of this installation; its existence means setup is done."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(120))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
