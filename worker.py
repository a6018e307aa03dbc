"""The RQ worker: inbound messages, outbound delivery, statistics and upkeep.

Runs RQ's SimpleWorker (no fork per job: ~3x the throughput of the forking worker on
our jobs) inside one app context, and a sweeper thread that re-enqueues anything that
was committed but never got its job (Redis was down, a worker died mid-job).
"""
import logging
import os
import sys
import threading

from rq import SimpleWorker

from app import create_app
from app.extensions import db
from app.jobs import QUEUES, redis_connection

log = logging.getLogger("switchboard.worker")
SWEEP_INTERVAL = float(os.environ.get("SWEEP_INTERVAL", "10"))


class SwitchboardWorker(SimpleWorker):
    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            # Each job starts from a clean session and never holds a connection idle.
            db.session.remove()


def sweeper_loop(app, stop: threading.Event) -> None:
    from app.services.sweeper import sweep
    while not stop.is_set():
        try:
            with app.app_context():
                sweep()
                db.session.remove()
        except Exception:  # noqa: BLE001 - keep sweeping whatever one round hit
            log.exception("sweeper round failed")
        stop.wait(SWEEP_INTERVAL)


def main() -> int:
    app = create_app()
    stop = threading.Event()
    with app.app_context():
        connection = redis_connection()
        worker = SwitchboardWorker(list(QUEUES), connection=connection)
        threading.Thread(target=sweeper_loop, args=(app, stop), name="sweeper",
                         daemon=True).start()
        try:
            # The scheduler runs delayed jobs: delivery retries after a rate limit.
            worker.work(with_scheduler=True, logging_level=os.environ.get("LOG_LEVEL", "WARNING"))
        finally:
            stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
