"""What one process works with, made from its settings on first use: the database, the stores on
it, the publisher, the group committer and the watchers of jobs (`?wait=`, events).

The web app gets its own from `create_app` and reaches it through the app; a Celery pool process,
beat and the command-line tools use `process_runtime()`, made after any fork. Unit tests hand in
mongomock and the stub publisher (`Runtime(settings, database=..., publisher=...)`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pymongo.database import Database

from services.core import celery_app, db
from services.core.apikeys import KeyStore
from services.core.config import Settings, settings
from services.core.jobs import concurrency, dependencies
from services.core.jobs.committer import Committer
from services.core.jobs.ended import (
    AmqpEndedSignal,
    EndedListener,
    EndedSignal,
    StubEndedSignal,
)
from services.core.jobs.publisher import AmqpPublisher, Publisher
from services.core.jobs.store import JobStore
from services.core.jobs.watching import Watchers
from services.core.process import per_process
from services.core.schedules.store import ScheduleStore
from services.core.tickets.matching import Ageing
from services.core.tickets.store import TicketStore

T = TypeVar("T")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        publisher: Publisher | None = None,
        ended_signal: EndedSignal | None = None,
    ) -> None:
        self.settings = settings
        self._made: dict[str, Any] = {}
        # Reentrant: making a store makes the database first.
        self._lock = threading.RLock()
        if database is not None:
            self._made["database"] = database
        if publisher is not None:
            self._made["publisher"] = publisher
        # Given a publisher (a unit test's stub), the runtime touches no real broker: it neither
        # signals nor listens for ended jobs unless given a signal too.
        self._listens = publisher is None
        if ended_signal is not None or not self._listens:
            self._made["ended_signal"] = ended_signal or StubEndedSignal()

    def _once(self, name: str, make: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            made: T = self._made[name]
            return made

    def made(self, name: str) -> bool:
        """Whether `name` (a property of this runtime) has been made yet."""
        return name in self._made

    @property
    def database(self) -> Database:
        return self._once("database", lambda: db.connect(self.settings))

    @property
    def jobs(self) -> JobStore:
        return self._once("jobs", lambda: self._job_store(tally_outcomes=False))

    @property
    def attempts(self) -> JobStore:
        """The job store of a worker's pool process: outcomes counted off the job's path."""
        return self._once("attempts", lambda: self._job_store(tally_outcomes=True))

    def _job_store(self, tally_outcomes: bool) -> JobStore:
        s = self.settings
        store = JobStore(
            self.database,
            retention=s.job_retention,
            page_max_bytes=s.page_max_bytes,
            tally_outcomes=tally_outcomes,
        )
        store.ensure_indexes()
        # A parent's end settles its blocked children, published through this process's publisher.
        store.parents_ended = dependencies.on_ended(store, lambda: self.publisher, s)
        store.watched_ended = lambda job_id: self.ended_signal.send(job_id)
        concurrency.ensure_indexes(self.database)
        return store

    @property
    def tickets(self) -> TicketStore:
        def make() -> TicketStore:
            store = TicketStore(
                self.database,
                page_max_bytes=self.settings.page_max_bytes,
                offers=self.settings.offer_policy,
            )
            store.ensure_indexes()
            return store

        return self._once("tickets", make)

    @property
    def schedules(self) -> ScheduleStore:
        def make() -> ScheduleStore:
            store = ScheduleStore(self.database)
            store.ensure_indexes()
            return store

        return self._once("schedules", make)

    @property
    def keys(self) -> KeyStore:
        def make() -> KeyStore:
            store = KeyStore(self.database)
            store.ensure_indexes()
            return store

        return self._once("keys", make)

    @property
    def ageing(self) -> Ageing:
        """How waiting raises a ticket's standing (TICKET_SLA, TICKET_AGEING)."""
        return Ageing(self.settings.ticket_sla, self.settings.ticket_ageing)

    @property
    def gate(self) -> concurrency.Gate:
        """The concurrency and rate limits a worker admits its attempts through."""
        return self._once("gate", lambda: concurrency.Gate(self.database, self.settings))

    @property
    def publisher(self) -> Publisher:
        return self._once("publisher", lambda: AmqpPublisher(celery_app.app))

    @property
    def committer(self) -> Committer:
        return self._once("committer", lambda: Committer(self.jobs, self.publisher, self.settings))

    @property
    def ended_signal(self) -> EndedSignal:
        return self._once("ended_signal", lambda: AmqpEndedSignal(celery_app.app))

    @property
    def watchers(self) -> Watchers:
        s = self.settings

        def make() -> Watchers:
            # Unit tests hand in a stub publisher and have no broker to listen on.
            listen = EndedListener(celery_app.app).start if self._listens else None
            return Watchers(self.jobs, s.wait_poll_interval, s.wait_slots, listen)

        return self._once("watchers", make)


# A Celery pool process's, beat's or a tool's: its own after a fork, as connections and threads
# do not survive one.
_from_environment = per_process(lambda: Runtime(settings()))
_chosen: list[Runtime] = []


def process_runtime() -> Runtime:
    """This process's runtime: the one `use` put in place, else one made from the environment."""
    return _chosen[-1] if _chosen else _from_environment()


@contextmanager
def use(runtime: Runtime) -> Iterator[Runtime]:
    """Run the process's tasks on `runtime` for a while (unit tests: mongomock, the stub)."""
    _chosen.append(runtime)
    try:
        yield runtime
    finally:
        _chosen.remove(runtime)
