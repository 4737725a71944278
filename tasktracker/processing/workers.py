"""Running jobs: `flask worker` (jobs one after another in the worker process, or with
`--fork` each in a work horse forked for it, RQ's own model; its app is
`tasktracker:create_worker_app`) and, with REDIS_URL unset, a worker thread inside the web
process on an in-process Redis.

Both run the reaper (processing.recovery, and the purge of expired Idempotency-Keys and
ended sessions) at start and then on a timer thread of their own, not
as an RQ scheduled job: RQ's schedule lives in Redis, and the reaper must still run after
Redis lost everything, and while every worker is busy.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis
from flask import Flask, current_app
from rq import SimpleWorker, Worker
from rq.job import Job as RQJob
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from tasktracker.extensions import db, redis_client
from tasktracker.processing import recovery
from tasktracker.processing.processors import load_processor
from tasktracker.processing.queue import AppJob, get_queue
from tasktracker.services import accounts, idempotency

log = logging.getLogger(__name__)

# How often RQ's worker does its upkeep, which includes starting its scheduler process again
# when it died (as it does when Redis goes away): the retries it moves onto the queue wait
# about this long after Redis is back (RQ's default: 10 minutes). An idle worker looks at
# its upkeep when its wait for a job times out, which is its TTL less 15 s: hence the TTL.
MAINTENANCE_SECONDS = 5
WORKER_TTL_SECONDS = MAINTENANCE_SECONDS + 15


class _Stoppable:
    """Tells a stop that was asked for (SIGTERM, SIGINT, `--max-jobs` reached) from RQ
    leaving its loop on an error it does not handle, such as Redis going away as a job
    ends."""

    asked_to_stop = False
    jobs_run = 0

    def request_stop(self, signum: int, frame: Any) -> None:
        self.asked_to_stop = True
        super().request_stop(signum, frame)  # type: ignore[misc]

    def execute_job(self, job: RQJob, queue: Any) -> Any:
        self.jobs_run += 1
        return super().execute_job(job, queue)  # type: ignore[misc]


class ForkingWorker(_Stoppable, Worker):
    """`flask worker --fork`: RQ's worker, each job in a work horse forked for it. A job that
    crashes its process, leaks or hangs takes only its horse with it; the fork costs this
    app tens of milliseconds a job, and the horse a new database connection."""

    def main_work_horse(self, job: RQJob, queue: Any) -> None:
        # The parent's pooled connections must not be shared with the child.
        db.engine.dispose(close=False)
        super().main_work_horse(job, queue)


class NoForkWorker(_Stoppable, SimpleWorker):
    """`flask worker`: jobs run in the worker process itself, on its pooled connections
    (several times the throughput of --fork for short jobs). A crash is the worker's own:
    its supervisor restarts it and the reaper recovers its job; `--max-jobs` bounds a leak;
    an attempt stuck past its timeout loses its lease (processing.heartbeat)."""


def horse_killed(job: RQJob, pid: int, status: int, rusage: Any) -> None:
    """The work horse died under its job (SIGKILL, OOM): retry or fail it now, without
    waiting for its lease to run out."""
    reason = f"Its worker process died (wait status {status})."
    with current_app.app_context():
        recovery.abandon_running(uuid.UUID(job.args[0]), reason)


def run_worker(
    queue_names: Sequence[str],
    *,
    burst: bool = False,
    fork: bool = False,
    max_jobs: int | None = None,
) -> None:
    """The `flask worker` loop: reap once, keep reaping on a timer, work the queues."""
    app = current_app._get_current_object()
    load_processor()  # a bad TASK_PROCESSOR fails here, not at the first job
    _reap(app)
    stop = threading.Event()
    reaper = _start_timer(app, stop, app.config["REAPER_INTERVAL_SECONDS"], _reap)
    options: dict[str, Any] = {"work_horse_killed_handler": horse_killed} if fork else {}
    try:
        while True:
            worker = (ForkingWorker if fork else NoForkWorker)(
                [get_queue()] if not queue_names else list(queue_names),
                connection=redis_client.client,
                job_class=AppJob,
                serializer=JSONSerializer,
                maintenance_interval=MAINTENANCE_SECONDS,
                worker_ttl=WORKER_TTL_SECONDS,
                **options,
            )
            try:
                worker.work(
                    burst=burst,
                    with_scheduler=True,
                    max_jobs=max_jobs,
                    logging_level=app.config["LOG_LEVEL"],
                )
            except (redis.RedisError, OSError):  # its teardown could not reach Redis either
                log.warning("worker: RQ could not end cleanly", exc_info=True)
            done = worker.jobs_run
            if burst or worker.asked_to_stop or (max_jobs is not None and done >= max_jobs):
                break
            # RQ left its loop on an error, such as Redis going away as a job ended (the jobs
            # table has the job's outcome): work again once Redis answers.
            log.warning("worker: RQ stopped on an error; working again once Redis answers")
            _wait_for_redis()
            if max_jobs is not None:
                max_jobs -= done
    finally:
        stop.set()
        reaper.join()


def _wait_for_redis() -> None:
    while True:
        try:
            redis_client.client.ping()
            return
        except (redis.RedisError, OSError):
            time.sleep(1)


class InProcessWorker(SimpleWorker):
    """RQ's non-forking worker in a thread of the web process: no signal handlers (a thread
    cannot install them) and timeouts by timer rather than SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


class InProcessQueue:
    """Starts, on first use, the thread that works the in-process queue and the one that
    reaps and moves delayed retries onto it."""

    TICK_SECONDS = 1.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.worker: InProcessWorker | None = None

    def __call__(self) -> None:
        with self.lock:
            if self.worker is not None:
                return
            with self.app.app_context():
                self.worker = InProcessWorker(
                    [get_queue()],
                    connection=redis_client.client,
                    job_class=AppJob,
                    serializer=JSONSerializer,
                )
        threading.Thread(target=self._work, name="in-process-worker", daemon=True).start()
        _start_timer(self.app, self.stopping, self.TICK_SECONDS, self._tick)

    def stop(self) -> None:
        """Stop after the job under way, once the wait for work ends (RQ's request_stop
        would install signal handlers, which only the main thread may)."""
        self.stopping.set()
        if self.worker is not None:
            self.worker._stop_requested = True

    def _work(self) -> None:
        with self.app.app_context():
            self.worker.work(logging_level="WARNING")

    def _tick(self, app: Flask) -> None:
        """Moves due retries onto the queue (RQ's scheduler process cannot see an in-process
        Redis), then reaps."""
        try:
            with app.app_context():
                scheduler = RQScheduler(
                    [app.config["JOB_QUEUE"]],
                    connection=redis_client.client,
                    serializer=JSONSerializer,
                )
                scheduler.prepare_registries()
                scheduler.enqueue_scheduled_jobs()
        except Exception:
            log.warning("in-process scheduler: this round failed", exc_info=True)
        _reap(app)


# The purges of the timer (Idempotency-Keys past their window, sessions that ended) delete
# what has piled up since the last: once in a while is enough, and the first at start.
PURGE_SECONDS = 600.0
_purged_at: float | None = None


def _reap(app: Flask) -> None:
    """The timer's round: recover jobs; now and then, drop the Idempotency-Keys past their
    window and the sessions that ended."""
    global _purged_at
    try:
        with app.app_context():
            recovery.reap()
            if _purged_at is None or time.monotonic() - _purged_at >= PURGE_SECONDS:
                idempotency.purge_idempotency_keys()
                accounts.purge_sessions()
                _purged_at = time.monotonic()
    except Exception:  # a database or Redis outage: try again at the next tick
        log.warning("reaper: this round failed", exc_info=True)


def _start_timer(
    app: Flask, stop: threading.Event, seconds: float, action: Callable[[Flask], None]
) -> threading.Thread:
    def run() -> None:
        while not stop.wait(seconds):
            action(app)

    thread = threading.Thread(target=run, name=f"{action.__name__}-timer", daemon=True)
    thread.start()
    return thread


def init_app(app: Flask) -> None:
    """With REDIS_URL unset, jobs enqueued by this process are worked by this process."""
    if not app.config["REDIS_URL"]:
        app.extensions["tasktracker.in_process_worker"] = InProcessQueue(app)
