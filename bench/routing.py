#!/usr/bin/env python3
"""Routing benchmark: `.venv/bin/python bench/routing.py [--database-url URL] [--chats N]`.

Measures the routing service itself (no web, no Redis: jobs run inline), on SQLite in a
temporary folder or on the database given (e.g. the PostgreSQL of the tests; it is
emptied first):

  1. hand-out rate: N waiting chats in three queues (round robin, least loaded, manual)
     handed out to 20 Active operators by routing.route(), until everyone is full;
  2. accept latency: p50/p99 of routing.accept + commit (the conditional UPDATE with its
     load subquery and the operator's row lock);
  3. refill: close one chat, route its queue again (what happens after every close).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--chats", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sb-routing-bench-"))
    from app import create_app
    from app.config import TestConfig
    config = TestConfig(tmp, args.database_url)
    config.TELEGRAM_API_URL = "http://127.0.0.1:9"
    app = create_app(config)
    from app.extensions import db
    from app.models import Channel, Chat, ChatQueue, Contact, ContactIdentity
    from app.services import routing, users
    with app.app_context():
        db.drop_all()
        db.create_all()
        users.complete_setup("Bench", "Ada", "ada@example.com", "bench password 1")
        ops = [users.create_user(f"Op {i}", f"op{i}@example.com", "bench password 1",
                                 "operator", "en", []) for i in range(20)]
        for i, op in enumerate(ops):
            op.max_load = 3 + i % 3
        queues = []
        for name, mode, members in (("RR", "round_robin", ops[:8]),
                                    ("LL", "least_loaded", ops[6:14]),
                                    ("Manual", "manual", ops[13:])):
            q = ChatQueue(name=name, routing_mode=mode, hours={})
            q.members = members
            channel = Channel(kind="website", name=name, queue=q, settings={})
            db.session.add_all([q, channel])
            queues.append((q, channel))
        db.session.commit()
        for n in range(args.chats):
            q, channel = queues[n % 3]
            contact = Contact(name=f"Customer {n}")
            identity = ContactIdentity(contact=contact, channel=channel, external_id=f"v{n}")
            db.session.add(Chat(channel=channel, queue=q, contact=contact, identity=identity,
                                open_identity=identity, status="queued", routing_skip=[]))
        db.session.commit()
        for op in ops:
            op.presence = "active"
        db.session.commit()

        started = time.perf_counter()
        changed = routing.route()
        elapsed = time.perf_counter() - started
        held = len(changed)
        personal = sum(1 for c in changed if c.offered_to_id)
        print(f"routing bench on {db.engine.dialect.name}: {args.chats} waiting chats, "
              f"20 Active operators (loads 3-5), 3 queues")
        print(f"  hand-out: {held} chats offered in {elapsed * 1000:.0f} ms: {personal} to one "
              f"operator each (auto modes, until everyone was full), {held - personal} to "
              f"everyone (manual); {elapsed / max(held, 1) * 1000:.1f} ms per chat")

        offered = list(db.session.scalars(db.select(Chat).where(
            Chat.status == "offered", Chat.offered_to_id.is_not(None))))
        timings = []
        for chat in offered:
            user = db.session.get(type(ops[0]), chat.offered_to_id)
            t0 = time.perf_counter()
            routing.accept(user, chat)
            db.session.commit()
            timings.append(time.perf_counter() - t0)
        print(f"  accept: {len(timings)} accepts, p50 {pct(timings, 50):.2f} ms, "
              f"p99 {pct(timings, 99):.2f} ms")

        refill = []
        active = list(db.session.scalars(db.select(Chat).where(Chat.status == "active")
                                         .limit(50)))
        for chat in active:
            t0 = time.perf_counter()
            chat.status, chat.open_identity_id = "closed", None
            db.session.commit()
            routing.route([chat.queue_id])
            refill.append(time.perf_counter() - t0)
        print(f"  close + refill one slot: p50 {pct(refill, 50):.2f} ms, "
              f"p99 {pct(refill, 99):.2f} ms, mean {statistics.mean(refill) * 1000:.2f} ms")
        db.session.remove()
        if args.database_url:
            db.drop_all()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SWITCHBOARD_INSTANCE", tempfile.mkdtemp(prefix="sb-instance-"))
    sys.exit(main())
