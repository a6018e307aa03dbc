"""Channel adapters, one per provider, found by `kind` through this registry."""
from .base import (BotInfo, ChannelAdapter, ChannelError, InboundAttachment, InboundMessage,
                   InboundReceipt, InboundStatus, OutboundAttachment, OutboundMessage,
                   SendResult)
from .telegram import TelegramAdapter
from .viber import ViberAdapter
from .website import WebsiteAdapter

REGISTRY: dict[str, type[ChannelAdapter]] = {
    WebsiteAdapter.kind: WebsiteAdapter,
    TelegramAdapter.kind: TelegramAdapter,
    ViberAdapter.kind: ViberAdapter,
}


def adapter_class(kind: str) -> type[ChannelAdapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise LookupError(f"unknown channel kind {kind!r}") from None


__all__ = ["REGISTRY", "adapter_class", "BotInfo", "ChannelAdapter", "ChannelError",
           "InboundAttachment", "InboundMessage", "InboundReceipt", "InboundStatus",
           "OutboundAttachment", "OutboundMessage", "SendResult"]
