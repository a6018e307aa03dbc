"""Live updates: a hub (Redis pub/sub, or in-memory for tests) and the topics it carries.

Services publish after commit; each web process runs one Redis listener and hands every
event to the local sockets whose topics match. Web and worker never share memory.
"""
from .hub import Hub, MemoryHub, RedisHub, RESYNC, init_app, current_hub, publish
from .topics import queue_topic, user_topic, visitor_topic, ALL_QUEUES

__all__ = ["Hub", "MemoryHub", "RedisHub", "RESYNC", "init_app", "current_hub", "publish",
           "queue_topic", "user_topic", "visitor_topic", "ALL_QUEUES"]
