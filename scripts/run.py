#!/usr/bin/env python3
"""Start Switchboard on this machine with one command (`make run`).

It prepares the instance folder, the translations and the database, then
starts up to three processes and watches them:

    redis   a private redis-server on instance/redis.sock (only if REDIS_URL is unset)
    worker  the RQ worker (worker.py)
    web     gunicorn, one gthread worker, serving wsgi:app

Each process writes to its own log in the instance folder, so the terminal
shows only what the operator needs. Ctrl-C or SIGTERM stops everything; if one
process dies, the others are stopped too and the launcher exits non-zero.

Environment: HOST (default 127.0.0.1), PORT (default 5000), REDIS_URL,
SWITCHBOARD_INSTANCE (default ./instance); the rest is read by the app itself.
"""
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis_private

ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "5000")
INSTANCE = Path(os.environ.get("SWITCHBOARD_INSTANCE", ROOT / "instance")).resolve()
TRANSLATIONS = ROOT / "app" / "translations"

# How long we let a process shut down politely before killing it. gunicorn's own
# graceful timeout is shorter, because open websockets would otherwise hold it
# until their browser tabs close.
STOP_TIMEOUT = 10
GRACEFUL_TIMEOUT = 3
STARTUP_TIMEOUT = 60


class Stop(Exception):
    """The operator asked us to stop (SIGINT or SIGTERM)."""


class Failure(Exception):
    """Something went wrong; the message is meant for the operator."""


def on_signal(signum, frame):
    raise Stop


def die_with_parent():
    """Runs in each child before exec: if the launcher itself is killed (even with
    SIGKILL), Linux sends the child SIGTERM, so nothing is left running."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the normal shutdown path still applies


class Child:
    def __init__(self, name, argv, env, log):
        self.name, self.log = name, log
        with open(log, "wb") as out:  # each run starts a fresh log: the one to read is obvious
            # A session of its own keeps the terminal's Ctrl-C away from the child,
            # so that we can stop the children in a deliberate order.
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
            )

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()  # each of redis, rq and gunicorn treats SIGTERM as "shut down cleanly"
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not stop within {STOP_TIMEOUT}s; killing it")
                # The whole group: gunicorn's worker or an RQ work horse too.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def death_notice(self):
        code = self.proc.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"The {self.name} process {how}. Its log is {rel(self.log)}; the last lines:\n{tail(self.log)}"


def rel(path):
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def tail(path, lines=20):
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text) or "    (empty)"


def step(message, argv, env):
    """A preparation step: quiet when it works, its whole output when it fails."""
    print(f"• {message}")
    result = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise Failure(f"{message} failed (exit code {result.returncode}):\n{result.stdout.rstrip()}")


def check_port_free():
    """Fail early and clearly instead of leaving it to a gunicorn traceback in a log."""
    try:
        infos = socket.getaddrinfo(HOST, int(PORT), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise Failure(f"HOST={HOST!r} cannot be resolved: {exc}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # gunicorn binds with SO_REUSEADDR too, so a port in TIME_WAIT is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Failure(f"Port {PORT} on {HOST} is already in use (is Switchboard already "
                              f"running?). Stop that program or choose another port: PORT=5001 make run")
            raise Failure(f"Cannot listen on {HOST}:{PORT}: {exc.strerror}")


def local_url():
    """The address to open in a browser: a wildcard HOST is reached via loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(HOST, HOST)
    return f"http://[{host}]:{PORT}" if ":" in host else f"http://{host}:{PORT}"


def wait_for_web(children, url):
    """gunicorn binds before the app is imported, so only an HTTP answer means ready."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        check_alive(children)
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.2)
    raise Failure(f"The web process did not become healthy within {STARTUP_TIMEOUT}s "
                  f"(GET /healthz: {last}). See {rel(children[-1].log)}.")


def run(children):
    if not PORT.isdigit() or not 0 < int(PORT) < 65536:
        raise Failure(f"PORT={PORT!r} is not a port number")
    check_port_free()
    INSTANCE.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, FLASK_APP="app:create_cli_app", PYTHONUNBUFFERED="1")
    if "SWITCHBOARD_INSTANCE" in os.environ:
        env["SWITCHBOARD_INSTANCE"] = str(INSTANCE)  # absolute, since children run in ROOT

    step("Preparing the instance folder and secret key", [
        sys.executable, "-c", "from app.config import ensure_instance; ensure_instance()"], env)

    # Redis comes before the migrations because creating the app may already need it.
    if not os.environ.get("REDIS_URL"):
        print("• Starting a private Redis (REDIS_URL is not set)")
        try:
            argv = redis_private.server_argv(INSTANCE)
        except ValueError as exc:
            raise Failure(str(exc))
        sock = redis_private.socket_path(INSTANCE)
        # redis-server removes a leftover socket file at start; make sure it is not a live one.
        if redis_private.answers(sock):
            raise Failure(f"A Redis server already answers on {rel(sock)}: another Switchboard "
                          "seems to be running from this folder. Stop it first.")
        (INSTANCE / "redis.log").write_bytes(b"")  # redis appends; start a fresh log as for the others
        children.append(Child("redis", argv, env, INSTANCE / "redis.log"))
        try:
            redis_private.wait_until_ready(children[-1].proc, sock)
        except RuntimeError as exc:
            raise Failure(f"{exc}. See {rel(INSTANCE / 'redis.log')}.")
        env["REDIS_URL"] = redis_private.url(sock)

    if any(TRANSLATIONS.glob("*/LC_MESSAGES/*.po")):
        step("Compiling translations", [sys.executable, "-m", "babel.messages.frontend",
                                        "-q", "compile", "-f", "-d", str(TRANSLATIONS)], env)
    step("Applying database migrations", [sys.executable, "-m", "flask", "db", "upgrade"], env)

    print("• Starting the worker and the web server")
    children.append(Child("worker", [sys.executable, "worker.py"], env, INSTANCE / "worker.log"))
    bind = f"[{HOST}]:{PORT}" if ":" in HOST else f"{HOST}:{PORT}"
    children.append(Child("web", [
        sys.executable, "-m", "gunicorn",
        # Every open websocket (an operator's tab, a visitor's widget) holds a thread;
        # idle threads cost little memory, so allow many (WEB_THREADS).
        "--worker-class", "gthread", "--workers", "1",
        "--threads", os.environ.get("WEB_THREADS", "256"),
        "--bind", bind,
        # Websockets hold a request open for hours: no per-request timeout, and
        # on shutdown we do not wait long for them to finish.
        "--timeout", "0", "--graceful-timeout", str(GRACEFUL_TIMEOUT),
        # gunicorn >= 25 opens a control socket in ~/.gunicorn by default, shared by
        # every gunicorn of this user; we do not use it.
        "--no-control-socket",
        "wsgi:app",
    ], env, INSTANCE / "web.log"))

    url = local_url()
    wait_for_web(children, url)
    print(f"\nSwitchboard is running at {url}  (Ctrl-C to stop)")
    if HOST in ("0.0.0.0", "::", ""):
        print(f"(listening on all interfaces, port {PORT})")
    print(f"Logs: {rel(INSTANCE)}/web.log, worker.log" + (", redis.log" if children[0].name == "redis" else ""))

    while True:
        check_alive(children)
        time.sleep(0.5)


def check_alive(children):
    for child in children:
        if not child.alive():
            raise Failure(child.death_notice())


def main():
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = []
    code = 0
    try:
        run(children)
    except Stop:
        print("\nStopping Switchboard…")
    except Failure as exc:
        print(f"\nError: {exc}", file=sys.stderr)
        code = 1
    finally:
        # Shutdown is short and bounded; a second Ctrl-C must not interrupt it halfway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):  # web first, then worker, then redis
            child.stop()
    if code == 0:
        print("Stopped.")
    sys.exit(code)


if __name__ == "__main__":
    main()
