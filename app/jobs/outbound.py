"""Outbound jobs: deliver an operator's message through its channel."""
from ..services import delivery


def deliver(message_id: int) -> None:
    delivery.deliver_message(message_id)
