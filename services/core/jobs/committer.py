"""Group commit: the submits of one web process share their database and broker round trips.

Request threads hand their recorded jobs to the process's committer and wait. Its thread takes
everything that has arrived, up to a bound, and makes one insert, one publish whose confirms are
awaited together, and one write marking the jobs queued; then it wakes each waiter with its own
outcome. There is no wait for a group to fill: while one group commits, the next accumulates.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from pymongo.errors import ConnectionFailure

from services.core.config import Settings
from services.core.jobs.dispatch import Dispatched, dispatch_new
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import Publisher
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore

log = logging.getLogger(__name__)


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Request:
    docs: list[JobDoc]
    # Already in the database (an Idempotency-Key submit records its job itself, to learn
    # whether the key is new); only published and marked here.
    recorded: bool
    # Held until the committer has settled the request: the waiter blocks acquiring it, the
    # committer releases it. The cheapest wait and wake there is: an Event would make a Condition
    # and a lock per request, and wake through notify_all.
    done: threading.Lock = field(default_factory=_held_lock)
    error: Exception | None = None

    def due(self) -> list[JobDoc]:
        """The jobs to publish now: scheduled ones wait for the relay."""
        return [doc for doc in self.docs if _due(doc)]

    def settle(self, outcome: Dispatched) -> list[str]:
        """Take the broker's answer: all of this request's jobs queued, or the request refused,
        and then its jobs that were only recorded (scheduled) are returned, to be discarded."""
        due = self.due()
        if not all(doc["_id"] in outcome.confirmed for doc in due):
            self.error = outcome.failure
            return [doc["_id"] for doc in self.docs if not _due(doc)]
        t = outcome.queued_at
        if t is not None:
            for doc in due:
                doc.update({"status": JobStatus.QUEUED.value, "queued_at": t, "updated_at": t})
        return []


class Committer:
    def __init__(self, store: JobStore, publisher: Publisher, s: Settings) -> None:
        self.store = store
        self._publisher = publisher
        self._settings = s
        self._max_group = s.submit_group_max
        self._arrived: deque[_Request] = deque()
        # A plain lock under the condition: nothing takes it twice, and an RLock costs more.
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    @property
    def publisher(self) -> Publisher:
        return self._publisher

    @property
    def settings(self) -> Settings:
        return self._settings

    def commit(self, docs: list[JobDoc], recorded: bool = False) -> list[JobDoc]:
        """Record, publish and mark the jobs queued, along with whatever else has arrived.

        Returns the docs as they now stand: `queued`, or `pending` when the database went away
        after the broker confirmed them. Raises what the single path raised: BrokerUnavailable
        when the broker did not confirm them (they are discarded), or the database's error
        when they could not be recorded.
        """
        request = _Request(docs, recorded)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="committer", daemon=True)
                self._thread.start()
            self._arrived.append(request)
            self._wake.notify()
        request.done.acquire()
        if request.error is not None:
            raise request.error
        return docs

    def _run(self) -> None:
        while True:
            group = self._next_group()
            try:
                self._commit(group)
            except Exception as exc:
                log.exception("group commit failed")
                for request in group:
                    request.error = request.error or exc
            finally:
                for request in group:
                    request.done.release()

    def _next_group(self) -> list[_Request]:
        """Every request that has arrived, whole, within the bound (a bigger one goes alone)."""
        with self._wake:
            while not self._arrived:
                self._wake.wait()
            group = [self._arrived.popleft()]
            size = len(group[0].docs)
            while self._arrived and size + len(self._arrived[0].docs) <= self._max_group:
                size += len(self._arrived[0].docs)
                group.append(self._arrived.popleft())
        return group

    def _commit(self, group: list[_Request]) -> None:
        group = self._record(self.store, group)
        due = [doc for request in group for doc in request.due()]
        if not due:
            return
        outcome = dispatch_new(self.store, due, self._publisher, self._settings)
        refused = [job_id for request in group for job_id in request.settle(outcome)]
        if refused:
            _discard(self.store, refused)

    @staticmethod
    def _record(store: JobStore, group: list[_Request]) -> list[_Request]:
        """Insert the group's new jobs in one call; the requests whose jobs are now recorded."""
        fresh = [request for request in group if not request.recorded]
        if fresh:
            try:
                store.insert_many([doc for request in fresh for doc in request.docs])
            except Exception as exc:
                for request in fresh:
                    request.error = exc
                return [request for request in group if request.recorded]
        return group


def _discard(store: JobStore, job_ids: list[str]) -> None:
    """The client is told 503 for a whole request: its scheduled jobs go with the others."""
    try:
        store.discard_unpublished(job_ids)
    except ConnectionFailure as exc:
        # Kept, they run when due: accepted late, as dispatch_new does with pending ones.
        log.warning("scheduled jobs of a refused request not discarded: %s", exc)


def _due(doc: JobDoc) -> bool:
    return bool(doc["status"] == JobStatus.PENDING.value)
