"""The whole inbound/outbound pipeline against real Redis, a real RQ worker and gunicorn."""
import json
import re
import secrets
import threading

import pytest
import requests

from stack import receive_until, wait_for

pytestmark = pytest.mark.integration
ORIGIN = "https://shop.example"


def send(stack, visitor, text, client_id=None):
    return requests.post(
        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
        data={"visitor": visitor, "client_id": client_id or secrets.token_hex(8), "text": text},
        headers={"Origin": ORIGIN}, timeout=10)


def conversation(stack, visitor):
    return requests.get(
        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/conversation",
        params={"visitor": visitor}, headers={"Origin": ORIGIN}, timeout=10).json()


def test_message_reaches_active_operator_live(stack, operator):
    olga = operator("olga@example.com")
    assert olga.post("/workspace/presence", {"presence": "active"}).status_code == 200
    ws = olga.websocket()
    try:
        receive_until(ws, lambda f: 'id="ws-state"' in f)  # subscribed
        visitor = secrets.token_hex(16)
        assert send(stack, visitor, "Is my parcel lost?").status_code == 202
        frame = receive_until(ws, lambda f: "waiting-chat-" in f and "beforeend:#waiting-list" in f)
        assert "Is my parcel lost?" in frame
    finally:
        ws.close()


def test_operator_of_another_queue_gets_nothing(stack, operator):
    sam = operator("sam@example.com")
    sam.post("/workspace/presence", {"presence": "active"})
    ws = sam.websocket()
    try:
        receive_until(ws, lambda f: 'id="ws-state"' in f)
        send(stack, secrets.token_hex(16), "secret support question")
        with pytest.raises(AssertionError):
            receive_until(ws, lambda f: "secret support question" in f, timeout=2)
    finally:
        ws.close()


def test_messages_wait_while_worker_is_down_then_arrive_in_order(stack):
    stack.stop_worker()
    visitor = secrets.token_hex(16)
    texts = [f"message {i}" for i in range(15)]
    for text in texts:
        assert send(stack, visitor, text).status_code == 202
    body = conversation(stack, visitor)
    assert [m["status"] for m in body["messages"]] == ["accepted"] * 15  # stored, not lost
    assert body["chat"] is None
    stack.start_worker()
    body = wait_for(lambda: (b := conversation(stack, visitor)) and
                    all(m["id"] for m in b["messages"]) and len(b["messages"]) == 15 and b,
                    timeout=30, message="processing after worker start")
    assert [m["text"] for m in body["messages"]] == texts
    assert body["chat"]["status"] == "queued"


def test_redis_outage_loses_nothing(stack):
    visitor = secrets.token_hex(16)
    stack.stop_redis()
    resp = send(stack, visitor, "sent during the outage")
    assert resp.status_code == 202
    assert conversation(stack, visitor)["messages"][0]["status"] == "accepted"
    stack.stop_worker()
    stack.start_redis()
    stack.start_worker()
    body = wait_for(lambda: (b := conversation(stack, visitor))["messages"][0]["id"] and b,
                    timeout=30, message="the sweeper to re-enqueue")
    assert body["messages"][0]["text"] == "sent during the outage"


def test_duplicate_posts_create_one_message(stack):
    visitor = secrets.token_hex(16)
    client_id = secrets.token_hex(8)
    codes = [send(stack, visitor, "once", client_id).status_code for _ in range(3)]
    assert codes == [202, 200, 200]
    body = wait_for(lambda: (b := conversation(stack, visitor))["messages"][0]["id"] and b)
    assert len(body["messages"]) == 1


def test_reply_reaches_visitor_socket_and_accept_race(stack, operator):
    from simple_websocket import Client
    olga, oleg = operator("olga@example.com"), operator("oleg@example.com")
    for op in (olga, oleg):
        op.post("/workspace/presence", {"presence": "active"})
    visitor = secrets.token_hex(16)
    send(stack, visitor, "hello")
    chat_id = wait_for(lambda: conversation(stack, visitor)["chat"], message="chat")["id"]
    vws = Client.connect(
        f"{stack.base_url.replace('http', 'ws')}/widget/v1/{stack.data['channel_public_id']}/ws"
        f"?visitor={visitor}", headers={"Origin": ORIGIN})
    try:
        receive_until(vws, lambda f: json.loads(f)["type"] == "hello")
        results = {}
        barrier = threading.Barrier(2)

        def accept(name, op):
            barrier.wait()
            results[name] = op.post(f"/workspace/chats/{chat_id}/accept").status_code

        threads = [threading.Thread(target=accept, args=(n, o)) for n, o in
                   (("olga", olga), ("oleg", oleg))]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(results.values()) == [200, 409]
        winner = olga if results["olga"] == 200 else oleg
        assert winner.post(f"/workspace/chats/{chat_id}/messages",
                           {"text": "Hello from the team"}).status_code == 204
        frame = receive_until(vws, lambda f: json.loads(f).get("type") == "message" and
                              json.loads(f)["message"]["direction"] == "out")
        message = json.loads(frame)["message"]
        assert message["text"] == "Hello from the team" and message["status"] == "sent"
        # The visitor reads it; the operator sees "Read".
        requests.post(f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/receipts",
                      json={"visitor": visitor, "read": message["id"]},
                      headers={"Origin": ORIGIN}, timeout=5)
        wait_for(lambda: "status-read" in winner.get(f"/workspace/messages/{message['id']}").text,
                 message="read status")
        assert winner.post(f"/workspace/chats/{chat_id}/close").status_code == 200
        frame = receive_until(vws, lambda f: json.loads(f).get("type") == "chat")
        assert json.loads(frame)["chat"]["status"] == "closed"
        wait_for(lambda: 'data-stat="messages_out">1<' in winner.get(f"/chats/{chat_id}").text,
                 message="statistics")
    finally:
        vws.close()


def test_burst_from_many_visitors_is_processed_completely(stack, operator):
    """Customers writing at once while the worker writes too: every message is stored,
    processed and pushed live; the worker never trips over SQLite's write lock."""
    olga = operator("olga@example.com")
    olga.post("/workspace/presence", {"presence": "active"})
    ws = olga.websocket()
    visitors = [secrets.token_hex(16) for _ in range(20)]
    try:
        receive_until(ws, lambda f: 'id="ws-state"' in f)

        def write(visitor):
            with requests.Session() as http:
                for i in range(10):
                    resp = http.post(
                        f"{stack.base_url}/widget/v1/{stack.data['channel_public_id']}/messages",
                        data={"visitor": visitor, "client_id": secrets.token_hex(8),
                              "text": f"{visitor[:6]}-{i}"}, headers={"Origin": ORIGIN}, timeout=10)
                    assert resp.status_code == 202

        threads = [threading.Thread(target=write, args=(v,)) for v in visitors]
        [t.start() for t in threads]
        seen = set()
        import time
        deadline = time.monotonic() + 60
        while len(seen) < 200 and time.monotonic() < deadline:
            frame = ws.receive(timeout=1)
            if frame:
                seen.update(re.findall(r"\b([0-9a-f]{6}-\d)\b", frame))
        [t.join() for t in threads]
        assert len(seen) == 200, f"{200 - len(seen)} messages never reached the operator"
        for visitor in visitors:
            texts = [m["text"] for m in conversation(stack, visitor)["messages"]]
            assert texts == [f"{visitor[:6]}-{i}" for i in range(10)]
    finally:
        ws.close()
    assert "Traceback" not in stack.log("worker")
