"""Inbound jobs: turn a stored raw event into contact, chat and message."""
from ..services import inbound


def process_event(event_id: int) -> None:
    inbound.process_event(event_id)
