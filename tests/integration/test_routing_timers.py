"""Timers live in the database: an offer that expires while the worker is down is handed
to the next operator once a worker is back; operators get chats as they free up."""
import secrets

import pytest
import requests
import sqlalchemy as sa

from stack import wait_for

pytestmark = pytest.mark.integration
ORIGIN = "https://shop.example"


def test_offer_expiry_survives_a_worker_restart(stack, operator):
    app = stack.app()
    from app.extensions import db
    from app.models import ChatQueue
    with app.app_context():
        queue = db.session.get(ChatQueue, stack.data["support_id"])
        queue.routing_mode, queue.offer_timeout_seconds = "round_robin", 2
        db.session.commit()
        db.session.remove()
    olga, oleg = operator("olga@example.com"), operator("oleg@example.com")
    for op in (olga, oleg):
        assert op.post("/workspace/presence", {"presence": "active"}).status_code == 200
    engine = sa.create_engine(stack.database_url)

    def offered_to():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT offered_to_id FROM chats")).scalar()
    resp = requests.post(f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
                         data={"visitor": secrets.token_hex(16), "client_id": secrets.token_hex(8),
                               "text": "Hello"}, headers={"Origin": ORIGIN}, timeout=10)
    assert resp.status_code == 202
    first = wait_for(offered_to, message="the first offer")
    stack.stop_worker()
    from app.models import Chat, utcnow

    def deadline_passed():
        with app.app_context():
            try:
                return db.session.scalar(db.select(Chat.offer_expires_at)) < utcnow()
            finally:
                db.session.remove()
    wait_for(deadline_passed, timeout=10, message="the offer's deadline (no worker running)")
    assert offered_to() == first
    stack.start_worker()
    wait_for(lambda: offered_to() not in (None, first), timeout=20,
             message="the offer handed to the next operator after the restart")
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT kind FROM chat_events ORDER BY id")).scalars().all()
    assert "offer_expired" in kinds
    engine.dispose()
