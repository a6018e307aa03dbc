"""The job layer. Services call `enqueue("app.jobs.x.y", id)`; jobs take ids and are
safe to run twice. In unit tests jobs run inline; otherwise they go to RQ.

If Redis is down, enqueue logs and returns: the state is already committed in the
database and the sweeper (worker.py) re-enqueues whatever is left unprocessed.
"""
import importlib
from datetime import timedelta
import logging

import redis
from flask import current_app
from rq import Queue
from rq.job import Job

log = logging.getLogger(__name__)

QUEUES = ("inbound", "outbound", "default", "stats")


def redis_connection() -> redis.Redis:
    conn = current_app.extensions.get("switchboard_redis")
    if conn is None:
        conn = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=5,
                                    socket_connect_timeout=2)
        current_app.extensions["switchboard_redis"] = conn
    return conn


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def enqueue(path: str, *args, queue: str = "default", job_id: str | None = None,
            skip_if_pending: bool = False, delay: float | None = None) -> bool:
    """Run `path(*args)` in the worker (after `delay` seconds). Returns False when it
    could not be queued."""
    if current_app.config.get("JOBS_INLINE"):
        if delay:
            current_app.extensions.setdefault("switchboard_delayed", []).append((path, args))
        else:
            _resolve(path)(*args)
        return True
    try:
        conn = redis_connection()
        if skip_if_pending and job_id:
            try:
                job = Job.fetch(job_id, connection=conn)
                if job.get_status(refresh=False) in ("queued", "started", "deferred",
                                                     "scheduled"):
                    return True
            except Exception:  # noqa: BLE001 - no such job: enqueue it
                pass
        options = dict(job_id=job_id, result_ttl=0, failure_ttl=7 * 86400, job_timeout=300)
        if delay:
            Queue(queue, connection=conn).enqueue_in(timedelta(seconds=delay), path, *args,
                                                     **options)
        else:
            Queue(queue, connection=conn).enqueue(path, *args, **options)
        return True
    except redis.RedisError as exc:
        log.warning("jobs: could not enqueue %s%r on %s (%s); the sweeper will retry",
                    path, args, queue, exc)
        return False


# -- coalesced jobs -----------------------------------------------------------
# A burst of inbound messages must not cost one RQ job each: the first event of a
# burst enqueues one drain job; the events behind it ride along. The job clears the
# flag before it starts reading, so an event stored after that enqueues a new job.

def _flag(key: str) -> str:
    return f"sb:pending:{key}"


def enqueue_coalesced(path: str, key: str, *args, queue: str = "default") -> bool:
    if current_app.config.get("JOBS_INLINE"):
        _resolve(path)(*args)
        return True
    try:
        conn = redis_connection()
        if not conn.set(_flag(key), "1", nx=True, ex=120):
            return True  # a job for this key is already waiting and will see our data
    except redis.RedisError as exc:
        log.warning("jobs: could not schedule %s (%s); the sweeper will retry", key, exc)
        return False
    if not enqueue(path, *args, queue=queue):
        try:
            conn.delete(_flag(key))
        except redis.RedisError:
            pass
        return False
    return True


def coalesced_job_started(key: str) -> None:
    if current_app.config.get("JOBS_INLINE"):
        return
    try:
        redis_connection().delete(_flag(key))
    except redis.RedisError:
        pass


class _NoLock:
    def extend(self, *_a, **_kw):
        return True

    def release(self):
        return None


NO_LOCK = _NoLock()


def try_lock(key: str, timeout: int = 60):
    """A Redis lock so only one worker drains a given stream at a time; None if taken.
    Inline (tests) needs no lock."""
    if current_app.config.get("JOBS_INLINE"):
        return _NoLock()
    lock = redis_connection().lock(f"sb:lock:{key}", timeout=timeout, blocking=False)
    return lock if lock.acquire() else None


def try_lock_quietly(key: str, timeout: int = 60):
    """Like try_lock, for locks that only save work: with Redis down, go ahead unlocked."""
    try:
        return try_lock(key, timeout)
    except redis.RedisError:
        return _NoLock()


def set_flag(key: str, ttl: int = 120) -> None:
    if current_app.config.get("JOBS_INLINE"):
        return
    try:
        redis_connection().set(_flag(key), "1", ex=ttl)
    except redis.RedisError:
        pass


def pop_flag(key: str) -> bool:
    if current_app.config.get("JOBS_INLINE"):
        return False
    try:
        return bool(redis_connection().delete(_flag(key)))
    except redis.RedisError:
        return False


def release_quietly(lock) -> None:
    """Release a work-saving lock; if it expired or Redis is gone, nothing is lost."""
    try:
        lock.release()
    except Exception:  # noqa: BLE001 - LockNotOwnedError, RedisError
        log.info("jobs: a lock had already expired or Redis is unreachable")
