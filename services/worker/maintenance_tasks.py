"""The periodic maintenance tasks beat sends to the `maintenance` queue, each single-flight."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from services.core import clock, queues
from services.core.celery_app import app, maintenance_intervals
from services.core.jobs import callbacks, dependencies, dispatch, submission
from services.core.jobs.callbacks import DELIVER_CALLBACK
from services.core.jobs.concurrency import Gate
from services.core.jobs.document import JobDoc
from services.core.jobs.submission import JobRequest
from services.core.maintenance import Maintenance
from services.core.runtime import process_runtime
from services.core.schedules import firing
from services.core.tickets import assignment

T = TypeVar("T")


def _single_flight(name: str, task: Callable[[], T]) -> T | None:
    """Run `task` unless another run of it holds the lease (then this tick is dropped)."""
    runtime = process_runtime()
    interval = maintenance_intervals(runtime.settings)[name]
    return Maintenance(runtime.database).run(name, interval, task)


@app.task(name="switchboard.dispatch_due")
def dispatch_due() -> int | None:
    """Publish jobs whose publish never completed, retries whose backoff is over, and scheduled
    jobs whose time has come."""

    def relay() -> int:
        runtime = process_runtime()
        s = runtime.settings
        due = runtime.jobs.due_for_dispatch(s.outbox_grace)
        return dispatch.relay(runtime.jobs, due, runtime.publisher, s)

    return _single_flight("dispatch_due", relay)


@app.task(name="switchboard.relay_callbacks")
def relay_callbacks() -> int | None:
    """Send the callbacks of ended jobs that are due to the job workers."""

    def send(job_id: str) -> None:
        app.send_task(DELIVER_CALLBACK, args=[job_id], queue=queues.JOBS, priority=5)

    return _single_flight(
        "relay_callbacks", lambda: callbacks.relay(process_runtime().jobs, send, clock.now())
    )


@app.task(name="switchboard.fire_schedules")
def fire_schedules() -> int | None:
    """Submit the job of every schedule whose tick has come."""

    def fire() -> int:
        runtime = process_runtime()
        s = runtime.settings

        def submit(job: JobRequest, by: str | None, key: str, link: dict[str, object]) -> JobDoc:
            made, _ = submission.submit(runtime.committer, job, s.job_max_attempts, by, key, link)
            return made

        callbacks_on = bool(s.callback_secret)
        return firing.fire_due(runtime.schedules, submit, clock.now(), callbacks_on)

    return _single_flight("fire_schedules", fire)


@app.task(name="switchboard.sweep_stale")
def sweep_stale() -> int | None:
    """Hand jobs whose worker stopped sending heartbeats back to the queue."""

    def sweep() -> int:
        runtime = process_runtime()
        store = runtime.jobs
        stale_after = runtime.settings.stale_after
        slots = Gate(runtime.database, runtime.settings)
        released = 0
        for doc in store.stale_running(stale_after):
            error = f"worker lost: no heartbeat for {stale_after:g}s"
            released += store.schedule_retry(
                doc["_id"], doc["run_id"], error, doc["attempts"], clock.now()
            )
            # Its slots' leases have run out by now too; freed at once all the same.
            slots.release(doc["run_id"])
        return released

    return _single_flight("sweep_stale", sweep)


@app.task(name="switchboard.sweep_dependencies")
def sweep_dependencies() -> int | None:
    """Settle the children of parents that ended without settling them (their process died):
    release or cancel what they left blocked."""

    def sweep() -> int:
        runtime = process_runtime()
        settled = dependencies.sweep(runtime.jobs, runtime.publisher, runtime.settings, clock.now())
        return settled.count

    return _single_flight("sweep_dependencies", sweep)


@app.task(name="switchboard.sweep_tickets")
def sweep_tickets() -> dict[str, int] | None:
    """Repair reservations crashes left behind, and let agents with free capacity pull."""

    def sweep() -> dict[str, int]:
        runtime = process_runtime()
        grace = runtime.settings.ticket_hold_grace
        rules = runtime.settings.ticket_escalation
        report = assignment.sweep(runtime.tickets, grace, runtime.ageing, rules)
        return vars(report)

    return _single_flight("sweep_tickets", sweep)
