"""Requests watching jobs (`GET /jobs/<id>?wait=N`, `GET /jobs/<id>/events`), served by one poll
per process.

However many requests watch in a web process, one thread asks the database every `interval`
seconds how all their jobs stand: one `_id` `$in` query for their state fields, not a loop per
request. A watched job is marked `watched`, so the worker that ends it says so at once (`ended`):
the thread then reads at once rather than at its next round.

A watching request holds one of the process's request threads, so at most `max_watching` watch
at once; beyond that a request gets no watch (`?wait` answers at once, as if
it had not asked; a stream of events is refused with a 503).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo.errors import PyMongoError

from services.core.jobs.document import JobDoc
from services.core.jobs.states import FINISHED, JobStatus
from services.core.jobs.store import JobStore

log = logging.getLogger(__name__)


@dataclass
class Watch:
    """One request's view of one job: its state fields as last read, and a signal on change."""

    job_id: str
    state: JobDoc | None = None
    _changed: threading.Event = field(default_factory=threading.Event)

    def finished(self) -> bool:
        return self.state is not None and JobStatus(self.state["status"]) in FINISHED

    def wait_change(self, timeout: float) -> bool:
        """Whether the state changed within `timeout` (since the last call)."""
        changed = self._changed.wait(max(timeout, 0.0))
        self._changed.clear()
        return changed

    def _see(self, state: JobDoc | None) -> None:
        if state != self.state:
            self.state = state
            self._changed.set()


class Watchers:
    def __init__(
        self,
        store: JobStore,
        interval: float = 0.2,
        max_watching: int = 8,
        listen: Callable[[Callable[[str], None]], None] | None = None,
    ) -> None:
        """`listen(poke)`: start hearing of ended jobs (`ended.EndedListener.start`)."""
        self._store = store
        self._interval = interval
        self._max_watching = max_watching
        self._listen = listen
        self._watching: list[Watch] = []
        self._changed = threading.Condition()
        self._poked = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, job_id: str) -> Watch | None:
        """A watch on the job, to `close` when done; None when too many requests watch."""
        watch = Watch(job_id)
        with self._changed:
            if len(self._watching) >= self._max_watching:
                return None
            self._watching.append(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._poll, name="watchers", daemon=True)
                self._thread.start()
                if self._listen is not None:
                    self._listen(self.poke)
            self._changed.notify()
        try:
            self._store.watch(job_id)
        except PyMongoError as exc:
            # Unmarked, its end is found by the poll alone.
            log.warning("job %s watched without a mark: %s", job_id, exc)
        return watch

    def poke(self, job_id: str) -> None:
        """The job has ended: read the watched jobs now, if this process watches it."""
        with self._changed:
            if any(w.job_id == job_id for w in self._watching):
                self._poked.set()

    def close(self, watch: Watch) -> None:
        with self._changed:
            self._watching.remove(watch)

    def wait(self, job_id: str, timeout: float) -> bool:
        """Whether the job finished within `timeout`; False at once when too many watch."""
        watch = self.open(job_id)
        if watch is None:
            return False
        try:
            deadline = time.monotonic() + timeout
            while not watch.finished():
                if not watch.wait_change(deadline - time.monotonic()):
                    return False
            return True
        finally:
            self.close(watch)

    def _poll(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._watching))
                watching = list(self._watching)
            started = time.monotonic()
            self._settle(watching)
            self._poked.wait(max(self._interval - (time.monotonic() - started), 0.0))
            self._poked.clear()

    def _settle(self, watching: list[Watch]) -> None:
        try:
            states = {
                doc["_id"]: doc for doc in self._store.states_of([w.job_id for w in watching])
            }
        except PyMongoError as exc:
            # The watchers time out and read the job themselves, which answers 503 if it must.
            log.warning("watching requests not served this round: %s", exc)
            return
        for watch in watching:
            watch._see(states.get(watch.job_id))
