"""Statistics jobs: one row per chat, computed when the chat closes."""
from ..services import stats


def compute(chat_id: int) -> None:
    stats.compute_chat_stats(chat_id)
