"""A running attempt's lease, renewed from a thread of its own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app

log = logging.getLogger(__name__)


@contextmanager
def lease_kept(renew: Callable[[], bool], label: str) -> Iterator[None]:
    """Calls `renew` every JOB_HEARTBEAT_SECONDS, in an application context of its own,
    while the block runs, so that a processor may take longer than the lease between two
    reports; but not past JOB_TIMEOUT_SECONDS, and not once `renew` says the lease is lost
    (returns False). An attempt is stopped at its timeout (SIGALRM, or its work horse
    killed); one that cannot be (stuck in C code, which a signal does not interrupt) then
    loses its lease, and the reaper takes the job back from it."""
    app = current_app._get_current_object()
    stop = threading.Event()
    deadline = time.monotonic() + app.config["JOB_TIMEOUT_SECONDS"]

    def beat() -> None:
        while not stop.wait(app.config["JOB_HEARTBEAT_SECONDS"]):
            if time.monotonic() > deadline:
                log.warning("%s: past its timeout, its lease is no longer renewed", label)
                return
            try:
                with app.app_context():
                    renewed = renew()
            except Exception:  # the database blinked: try again at the next beat
                log.warning("%s: heartbeat failed", label, exc_info=True)
                continue
            if not renewed:
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
