"""The channel adapter interface. Adapters translate between a provider's wire format
and these plain dataclasses; they never touch the database."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class InboundAttachment:
    filename: str
    mime: str
    size: int
    storage_key: str | None = None   # already in our storage (widget uploads)
    media_ref: str | None = None     # to download from the provider (messengers)
    is_image: bool = False
    width: int | None = None
    height: int | None = None


@dataclass
class InboundMessage:
    sender_id: str
    external_id: str
    sent_at: datetime
    text: str = ""
    sender_name: str | None = None
    attachments: list[InboundAttachment] = field(default_factory=list)
    client_id: str | None = None
    sender_details: dict = field(default_factory=dict)


@dataclass
class InboundStatus:
    """Whether we can write to the sender now (blocked the bot, unsubscribed, came back)."""

    sender_id: str
    reachable: bool
    sender_name: str | None = None
    sender_details: dict = field(default_factory=dict)


@dataclass
class InboundReceipt:
    """The provider reports what became of a message we sent: "delivered", "read", or
    "failed" (with a readable `reason`). Statuses only move forward."""

    message_external_id: str
    status: str
    sender_id: str | None = None
    reason: str | None = None


@dataclass
class BotInfo:
    external_id: str
    username: str
    name: str


@dataclass
class OutboundAttachment:
    filename: str
    mime: str
    size: int
    url: str
    is_image: bool
    path: str | None = None  # our stored copy, for providers that take uploads


@dataclass
class OutboundMessage:
    message_id: int
    chat_id: int
    recipient_id: str
    text: str
    payload: dict  # the message as the customer's client renders it
    attachments: list[OutboundAttachment] = field(default_factory=list)


@dataclass
class SendResult:
    external_id: str | None = None
    status: str = "sent"


class ChannelError(Exception):
    """A delivery failed. `reason` is readable by an operator; `retry_after` > 0 means
    the provider asked us to try again later; `permanent` means retrying is useless."""

    def __init__(self, reason: str, *, retry_after: float = 0, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.recipient_unreachable = False
        self.code = None


class ChannelAdapter:
    kind: str = ""
    label: str = ""
    # Capabilities, read by the composer and the services.
    max_file_size: int = 10 * 1024 * 1024
    max_text_length: int = 10000
    supports_read_receipts: bool = False
    reply_window_seconds: int | None = None

    def __init__(self, channel_settings: dict, secrets: dict | None = None, *, publish=None,
                 config=None):
        self.settings = channel_settings or {}
        self.secrets = secrets or {}
        self.publish = publish
        self.config = config or {}

    needs_webhook = False
    # Can the provider tell us what the sender looks like (see `avatar`)?
    has_avatars = False
    # May an operator write first (from the contact card) to someone who wrote before?
    can_start_conversations = False

    @classmethod
    def token_looks_valid(cls, token: str) -> bool:
        return bool(token)

    @classmethod
    def token_hint(cls) -> str:
        """A readable message for a token that does not look right."""
        return "The token is empty."

    def verify_request(self, headers, raw_body: bytes) -> bool:
        return True

    def event_key(self, payload: dict) -> tuple[str, str | None]:
        """(the provider's unique id of this event, the sender's id) for deduplication."""
        raise NotImplementedError

    def connect(self) -> BotInfo:
        raise NotImplementedError

    def register_webhook(self, url: str) -> dict:
        raise NotImplementedError

    def webhook_info(self) -> dict:
        """The provider's view of our webhook: at least "url"."""
        raise NotImplementedError

    def download(self, media_ref: str) -> bytes:
        raise NotImplementedError

    def avatar(self, sender_id: str, details: dict) -> bytes | None:
        """The sender's profile picture, or None when they have none (or hide it)."""
        return None

    def check_outbound(self, text: str, attachment) -> str | None:
        return None

    def parse(self, payload: dict) -> list[InboundMessage]:
        raise NotImplementedError

    def send(self, outbound: OutboundMessage) -> SendResult:
        raise NotImplementedError
