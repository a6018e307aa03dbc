import json
import logging
import queue
import threading
import time

import redis
from flask import current_app

from .topics import matches

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "sb:"
# Put in a subscription when the listener lost Redis for a while: the socket must resync.
RESYNC = {"type": "resync"}


class Subscription:
    """One socket's mailbox. The hub fills it; the socket's thread drains it."""

    def __init__(self, hub: "Hub", topics):
        self.hub = hub
        self.topics = set(topics)
        self._queue: queue.Queue = queue.Queue(maxsize=1000)

    def wants(self, topic: str) -> bool:
        return any(matches(p, topic) for p in self.topics)

    def put(self, event: dict) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            # A stuck socket must not grow memory without bound; it resyncs instead.
            self.clear()
            self._queue.put_nowait(RESYNC)

    def clear(self):
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def get(self, timeout: float | None = None):
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.hub._remove(self)


class Hub:
    def __init__(self):
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self, topics) -> Subscription:
        sub = Subscription(self, topics)
        with self._lock:
            self._subs.add(sub)
        self._ensure_listening()
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _dispatch(self, topic: str, event: dict) -> None:
        with self._lock:
            targets = [s for s in self._subs if s.wants(topic)]
        for sub in targets:
            sub.put(event)

    def _broadcast_resync(self) -> None:
        with self._lock:
            targets = list(self._subs)
        for sub in targets:
            sub.put(RESYNC)

    def _ensure_listening(self) -> None:
        pass

    def publish(self, topic: str, event: dict) -> None:
        raise NotImplementedError

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)


class MemoryHub(Hub):
    """In-process twin for unit tests: publish delivers synchronously."""

    def __init__(self):
        super().__init__()
        self.published: list[tuple[str, dict]] = []

    def publish(self, topic: str, event: dict) -> None:
        self.published.append((topic, event))
        self._dispatch(topic, event)


class RedisHub(Hub):
    """Redis pub/sub with one listener thread per process, started on first subscribe."""

    def __init__(self, url: str):
        super().__init__()
        self._url = url
        self._redis = redis.Redis.from_url(url, health_check_interval=30)
        self._listener: threading.Thread | None = None

    def publish(self, topic: str, event: dict) -> None:
        try:
            self._redis.publish(CHANNEL_PREFIX + topic, json.dumps(event))
        except redis.RedisError:
            # Live updates are best effort: the data is committed and every socket
            # resyncs from the database when it reconnects.
            log.warning("realtime: could not publish to %s (Redis unavailable)", topic)

    def _ensure_listening(self) -> None:
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._listener = threading.Thread(target=self._listen, name="realtime-listener",
                                              daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        backoff = 0.5
        first = True
        while True:
            pubsub = None
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                if not first:
                    # We may have missed events while disconnected.
                    self._broadcast_resync()
                first = False
                backoff = 0.5
                for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    topic = message["channel"].decode()[len(CHANNEL_PREFIX):]
                    try:
                        event = json.loads(message["data"])
                    except ValueError:
                        continue
                    self._dispatch(topic, event)
            except redis.RedisError as exc:
                log.warning("realtime: listener lost Redis (%s); retrying", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass


def init_app(app) -> None:
    if app.config["REALTIME_BACKEND"] == "memory":
        hub = MemoryHub()
    else:
        hub = RedisHub(app.config["REDIS_URL"])
    app.extensions["switchboard_hub"] = hub


def current_hub() -> Hub:
    return current_app.extensions["switchboard_hub"]


def publish(topic: str, event: dict) -> None:
    current_hub().publish(topic, event)
