"""The periodic maintenance tasks beat sends to the `maintenance` queue, each single-flight."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from services.core import clock
from services.core.celery_app import app, maintenance_intervals
from services.core.config import settings
from services.core.db import database
from services.core.jobs import dispatch
from services.core.jobs.store import default_store
from services.core.maintenance import Maintenance
from services.core.tickets import assignment
from services.core.tickets.store import default_store as default_ticket_store

T = TypeVar("T")


def _single_flight(name: str, task: Callable[[], T]) -> T | None:
    """Run `task` unless another run of it holds the lease (then this tick is dropped)."""
    interval = maintenance_intervals(settings())[name]
    return Maintenance(database()).run(name, interval, task)


@app.task(name="switchboard.dispatch_due")
def dispatch_due() -> int | None:
    """Publish jobs whose publish never completed, retries whose backoff is over, and scheduled
    jobs whose time has come."""

    def relay() -> int:
        store = default_store()
        return dispatch.relay(store, store.due_for_dispatch(settings().outbox_grace))

    return _single_flight("dispatch_due", relay)


@app.task(name="switchboard.sweep_stale")
def sweep_stale() -> int | None:
    """Hand jobs whose worker stopped sending heartbeats back to the queue."""

    def sweep() -> int:
        store = default_store()
        stale_after = settings().stale_after
        released = 0
        for doc in store.stale_running(stale_after):
            error = f"worker lost: no heartbeat for {stale_after:g}s"
            released += store.schedule_retry(
                doc["_id"], doc["run_id"], error, doc["attempts"], clock.now()
            )
        return released

    return _single_flight("sweep_stale", sweep)


@app.task(name="switchboard.sweep_tickets")
def sweep_tickets() -> dict[str, int] | None:
    """Repair reservations crashes left behind, and let agents with free capacity pull."""

    def sweep() -> dict[str, int]:
        report = assignment.sweep(default_ticket_store(), settings().ticket_hold_grace)
        return vars(report)

    return _single_flight("sweep_tickets", sweep)
