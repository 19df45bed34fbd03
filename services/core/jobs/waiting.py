"""Requests waiting for jobs to finish (`GET /jobs/<id>?wait=N`), served by one poll per process.

However many requests wait in a web process, one thread asks the database, every `interval`
seconds, which of all their jobs have finished: one `_id` `$in` query, not a loop per request.
Each waiting request holds one of the process's request threads, so at most `max_waiting` wait
at once; a request beyond that is answered at once, as if it had not asked to wait.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from pymongo.errors import PyMongoError

from services.core.jobs.store import Doc, JobStore

log = logging.getLogger(__name__)


@dataclass
class _Waiter:
    job_id: str
    done: threading.Event = field(default_factory=threading.Event)
    doc: Doc | None = None


class Waiters:
    def __init__(self, store: JobStore, interval: float = 0.2, max_waiting: int = 8) -> None:
        self._store = store
        self._interval = interval
        self._max_waiting = max_waiting
        self._waiting: list[_Waiter] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def wait(self, job_id: str, timeout: float) -> Doc | None:
        """The job once it has finished; None after `timeout`, or at once when too many wait."""
        waiter = _Waiter(job_id)
        with self._changed:
            if len(self._waiting) >= self._max_waiting:
                return None
            self._waiting.append(waiter)
            if self._thread is None:
                self._thread = threading.Thread(target=self._poll, name="waiters", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            waiter.done.wait(timeout)
        finally:
            with self._changed:
                self._waiting.remove(waiter)
        return waiter.doc

    def _poll(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._waiting))
                waiting = list(self._waiting)
            started = time.monotonic()
            self._settle(waiting)
            time.sleep(max(self._interval - (time.monotonic() - started), 0.0))

    def _settle(self, waiting: list[_Waiter]) -> None:
        try:
            finished = {
                doc["_id"]: doc
                for doc in self._store.finished_among(list({w.job_id for w in waiting}))
            }
        except PyMongoError as exc:
            # The waiters time out and read the job themselves, which answers 503 if it must.
            log.warning("waiting requests not served this round: %s", exc)
            return
        for waiter in waiting:
            doc = finished.get(waiter.job_id)
            if doc is not None:
                waiter.doc = doc
                waiter.done.set()
