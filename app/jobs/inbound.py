"""Inbound jobs: turn stored raw events into contact, chat and message."""
from ..services import inbound


def drain_channel(channel_id: int) -> None:
    inbound.drain_channel(channel_id)

