"""Topic names. An operator's socket subscribes to the topics they may see."""

ALL_QUEUES = "queue:*"


def queue_topic(queue_id: int) -> str:
    return f"queue:{queue_id}"


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def visitor_topic(channel_id: int, visitor: str) -> str:
    return f"visitor:{channel_id}:{visitor}"


def matches(pattern: str, topic: str) -> bool:
    if pattern.endswith("*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic
