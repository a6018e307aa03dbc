"""Channel adapters, one per provider, found by `kind` through this registry."""
from .base import (ChannelAdapter, ChannelError, InboundAttachment, InboundMessage,
                   OutboundAttachment, OutboundMessage, SendResult)
from .website import WebsiteAdapter

REGISTRY: dict[str, type[ChannelAdapter]] = {
    WebsiteAdapter.kind: WebsiteAdapter,
}


def adapter_class(kind: str) -> type[ChannelAdapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise LookupError(f"unknown channel kind {kind!r}") from None


__all__ = ["REGISTRY", "adapter_class", "ChannelAdapter", "ChannelError", "InboundAttachment",
           "InboundMessage", "OutboundAttachment", "OutboundMessage", "SendResult"]
