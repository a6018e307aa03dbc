from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import UTCDateTime, utcnow

ROLES = ("admin", "supervisor", "operator")
PRESENCES = ("active", "away", "offline")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(db.String(254), unique=True)
    name: Mapped[str] = mapped_column(db.String(120))
    password_hash: Mapped[str] = mapped_column(db.String(255))
    role: Mapped[str] = mapped_column(db.String(20), default="operator")
    is_enabled: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(db.String(8), default="en")
    presence: Mapped[str] = mapped_column(db.String(10), default="offline")
    presence_changed_at = mapped_column(UTCDateTime, default=utcnow)
    # Routing: the sum of the weights of the chats held (assigned or offered) never
    # exceeds `max_load`; `last_routed_at` orders the turn and breaks ties.
    max_load: Mapped[int] = mapped_column(default=3, server_default="3")
    last_routed_at = mapped_column(UTCDateTime, nullable=True)
    # Refreshed by every open workspace tab; the worker notices when the last one is gone.
    last_connected_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    queues = db.relationship("ChatQueue", secondary="queue_members", back_populates="members",
                             order_by="ChatQueue.name")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot log in
        return self.is_enabled

    @property
    def sees_all_queues(self) -> bool:
        return self.role in ("admin", "supervisor")

    @property
    def can_configure(self) -> bool:
        return self.role in ("admin", "supervisor")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class UserStatusLog(db.Model):
    """Every presence change: one row per period, `ended_at` NULL for the current one."""

    __tablename__ = "user_status_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(db.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    presence: Mapped[str] = mapped_column(db.String(10))
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    ended_at = mapped_column(UTCDateTime, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id"), nullable=True)
    reason: Mapped[str] = mapped_column(db.String(40), default="")

    user = db.relationship("User", foreign_keys=[user_id])
    actor = db.relationship("User", foreign_keys=[actor_id])
