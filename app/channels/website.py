"""The website widget channel. Inbound events are written by our own widget endpoint;
outbound messages are pushed to the visitor's live socket (and fetched on reconnect)."""
from __future__ import annotations

from datetime import datetime

from .base import ChannelAdapter, InboundAttachment, InboundMessage, OutboundMessage, SendResult


class WebsiteAdapter(ChannelAdapter):
    kind = "website"
    label = "Website"
    supports_read_receipts = True

    def parse(self, payload: dict) -> list[InboundMessage]:
        attachments = [InboundAttachment(**a) for a in payload.get("attachments", [])]
        return [InboundMessage(
            sender_id=payload["visitor"],
            external_id=payload["client_id"],
            client_id=payload["client_id"],
            sent_at=datetime.fromisoformat(payload["received_at"]),
            text=payload.get("text", ""),
            attachments=attachments,
            sender_details={k: payload[k] for k in ("origin", "page", "user_agent", "language")
                            if payload.get(k)},
        )]

    def send(self, outbound: OutboundMessage) -> SendResult:
        # The widget is our own client: "sent" means the message is stored for it. The
        # push to the visitor happens after the status is committed (live.message_updated),
        # so a read receipt can never arrive for a message still marked pending.
        return SendResult(external_id=None, status="sent")
