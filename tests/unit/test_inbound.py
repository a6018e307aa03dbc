from datetime import datetime, timezone

from app.extensions import db
from app.models import Chat, InboundEvent, Message
from app.services import inbound


def payload(visitor, client_id, text):
    return {"visitor": visitor, "client_id": client_id, "text": text, "attachments": [],
            "received_at": datetime.now(timezone.utc).isoformat()}


def test_a_bad_event_does_not_block_the_ones_behind_it(app, org, monkeypatch):
    monkeypatch.setattr(inbound, "schedule_drain", lambda channel_id: True)  # worker is slow
    visitor = "a" * 32
    inbound.store_event(org.channel, "e1", payload(visitor, "c1", "first"), visitor)
    inbound.store_event(org.channel, "e2", {"garbage": True}, visitor)
    inbound.store_event(org.channel, "e3", payload(visitor, "c3", "third"), visitor)
    assert inbound.drain_channel(org.channel.id) == 3
    assert [m.text for m in db.session.scalars(db.select(Message).order_by(Message.id))] == \
        ["first", "third"]
    bad = db.session.scalar(db.select(InboundEvent).where(InboundEvent.external_id == "e2"))
    assert bad.processed_at is None and bad.attempts == 1 and "KeyError" in bad.error
    assert db.session.scalar(db.select(db.func.count(Chat.id))) == 1


def test_drain_processes_in_arrival_order_in_batches(app, org, monkeypatch):
    monkeypatch.setattr(inbound, "schedule_drain", lambda channel_id: True)
    monkeypatch.setattr(inbound, "BATCH_SIZE", 7)
    visitor = "b" * 32
    for i in range(30):
        inbound.store_event(org.channel, f"e{i}", payload(visitor, f"c{i}", f"m{i}"), visitor)
    assert inbound.drain_channel(org.channel.id) == 30
    assert [m.text for m in db.session.scalars(db.select(Message).order_by(Message.id))] == \
        [f"m{i}" for i in range(30)]
    assert inbound.drain_channel(org.channel.id) == 0  # running again changes nothing
