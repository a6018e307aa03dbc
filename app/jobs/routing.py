"""Routing jobs: hand out waiting chats when capacity frees up, and expire offers on time."""
from ..services import routing


def route(queue_ids=None) -> None:
    routing.route(queue_ids)


def expire_offer(chat_id: int) -> None:
    routing.expire_offer(chat_id)
