"""One attempt of a job on a worker, from claim to recorded outcome.

    claim (queued → running) → heartbeat while the handler runs → one of
      succeeded · cancelled · retrying (backoff, then the relay re-queues it) · failed (dead letter)
    or, over a concurrency or rate limit right after the claim: throttled (the relay re-queues it
    at its `not_before`; no attempt counted)

Every write after the claim is conditional on this attempt's `run_id`, so when a dead worker's
job has been taken over, a late outcome from the old attempt changes nothing.

An attempt past its soft time limit fails like any other error (retried while attempts are
left); one past its hard limit has its process killed, and the worker records it (`abandon`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError

from services.core import clock, jsonfield
from services.core.config import Settings
from services.core.fetch import FetchPolicy
from services.core.jobs import dependencies, limits, registry, timings
from services.core.jobs.concurrency import Gate
from services.core.jobs.context import JobCancelled, JobContext, PermanentError
from services.core.jobs.document import JobDoc
from services.core.jobs.states import JobStatus, backoff_delay
from services.core.jobs.store import JobStore
from services.core.process import per_process
from services.core.ticker import Ticks

log = logging.getLogger(__name__)
# Every attempt in a worker process beats through one thread, not a thread of its own.
heartbeats = per_process(Ticks)
T = TypeVar("T")
# How long a finished attempt keeps trying to record its outcome while MongoDB is away.
OUTCOME_WRITE_PATIENCE = 60.0


class Outcome(Enum):
    SKIPPED = "skipped"  # finished, cancelled, unknown, or another worker holds it
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    RETRYING = "retrying"
    FAILED = "failed"  # out of attempts: the message goes to the dead-letter queue
    SUPERSEDED = "superseded"  # another attempt took over while this one ran
    THROTTLED = "throttled"  # over a concurrency or rate limit: put back to wait


def run(
    job_id: str,
    store: JobStore,
    settings: Settings,
    worker: str,
    redelivered: bool,
    gate: Gate | None = None,
) -> Outcome:
    run_id = uuid.uuid4().hex
    doc = store.claim(job_id, run_id, worker, take_over=redelivered)
    if doc is None:
        return Outcome.SKIPPED
    gate = gate or Gate(store.jobs.database, settings)
    admission = gate.admit(doc, run_id, clock.now())
    if admission.not_before is not None:
        return _throttle(store, doc, run_id, admission.not_before)
    try:
        return _attempt(store, doc, run_id, settings, worker, gate if admission.held else None)
    finally:
        if admission.held:
            gate.release(run_id)


def _throttle(store: JobStore, doc: JobDoc, run_id: str, not_before: datetime) -> Outcome:
    if not store.defer(doc["_id"], run_id, not_before):
        return Outcome.SUPERSEDED
    _event("job throttled", doc, run_id, not_before=clock.iso(not_before))
    return Outcome.THROTTLED


def _attempt(
    store: JobStore, doc: JobDoc, run_id: str, settings: Settings, worker: str, slots: Gate | None
) -> Outcome:
    """Run the claimed job's handler once and record what came of it. `slots`: the gate whose
    slots the attempt holds, renewed with each heartbeat."""
    job_id = doc["_id"]
    _event("job started", doc, run_id, worker=worker)
    attempt = doc["attempts"]
    if attempt == 1:
        _observe_wait(store, doc)
    job_type = registry.get(doc["type"])
    if job_type is None:
        return _fail(store, doc, run_id, f"unknown job type {doc['type']!r} on this worker")
    if attempt > doc["max_attempts"]:
        # Only a worker that died mid-run gets here: stop a job that keeps killing workers.
        return _fail(store, doc, run_id, "worker lost during every attempt")

    time_limits = limits.of(doc, settings)
    ctx = JobContext(
        job_id,
        attempt,
        report_progress=lambda p: store.set_progress(job_id, run_id, p),
        deadline=time.monotonic() + time_limits.soft,
        fetch_policy=FetchPolicy.from_settings(settings),
        load_parent_results=partial(dependencies.results_of, store, doc.get("depends_on", [])),
    )
    if doc.get("cancel_requested"):
        ctx.cancel_requested.set()
    try:
        payload = job_type.payload_model.model_validate(jsonfield.load(doc["payload"]))
        beat = partial(_heartbeat, store, job_id, run_id, ctx.cancel_requested, slots)
        with heartbeats().ticking(beat, settings.heartbeat_interval):
            ctx.raise_if_cancelled()
            result = job_type.handler(payload, ctx)
            ctx.raise_if_cancelled()
        _check_result(result, settings.result_max_bytes)
    except JobCancelled:
        return _record(store, doc, run_id, JobStatus.CANCELLED, Outcome.CANCELLED)
    except (PermanentError, ValidationError) as exc:
        return _fail(store, doc, run_id, _describe(exc))
    except SoftTimeLimitExceeded:
        error = f"time limit exceeded: the attempt ran past its {time_limits.soft:g} s limit"
        return _failed_attempt(store, doc, run_id, error, settings)
    except Exception as exc:
        return _failed_attempt(store, doc, run_id, _describe(exc), settings)
    return _record(store, doc, run_id, JobStatus.SUCCEEDED, Outcome.SUCCEEDED, result=result)


def _observe_wait(store: JobStore, doc: JobDoc) -> None:
    """Time from submit (or from run_at, for a scheduled job) to its first start."""
    since = doc.get("run_at") or doc["created_at"]
    store.observe(doc["type"], timings.WAIT, (_started_at(doc) - since).total_seconds())


def abandon(job_id: str, store: JobStore, settings: Settings, worker: str) -> Outcome:
    """Record the attempt `worker` was running as failed: its process was killed at the hard
    time limit. Counted like any failed attempt, so it is retried while attempts are left."""
    doc = store.running_on(job_id, worker)
    if doc is None:
        return Outcome.SKIPPED
    Gate(store.jobs.database, settings).release(doc["run_id"])
    hard = limits.of(doc, settings).hard
    error = f"time limit exceeded: the attempt was stopped at its hard limit of {hard:g} s"
    return _failed_attempt(store, doc, doc["run_id"], error, settings)


def _failed_attempt(
    store: JobStore, doc: JobDoc, run_id: str, error: str, settings: Settings
) -> Outcome:
    """Schedule the next attempt after a backoff, or fail the job when none are left."""
    attempt = doc["attempts"]
    if attempt >= doc["max_attempts"]:
        return _fail(store, doc, run_id, error)
    delay = backoff_delay(attempt, settings.retry_backoff_base, settings.retry_backoff_max)
    retry_at = clock.now() + timedelta(seconds=delay)
    done = _persist(lambda: store.schedule_retry(doc["_id"], run_id, error, attempt, retry_at))
    if not done:
        return Outcome.SUPERSEDED
    _ran(store, doc)
    _event("job retrying", doc, run_id, error=error, retry_in=round(delay, 3))
    return Outcome.RETRYING


def _fail(store: JobStore, doc: JobDoc, run_id: str, error: str) -> Outcome:
    return _record(
        store, doc, run_id, JobStatus.FAILED, Outcome.FAILED, error=error, attempt=doc["attempts"]
    )


def _record(
    store: JobStore, doc: JobDoc, run_id: str, status: JobStatus, outcome: Outcome, **fields: Any
) -> Outcome:
    done = _persist(
        lambda: store.finish(doc["_id"], run_id, status, job_type=doc["type"], **fields)
    )
    if not done:
        return Outcome.SUPERSEDED
    _ran(store, doc)
    _event(f"job {status.value}", doc, run_id, **{k: fields[k] for k in ("error",) if k in fields})
    return outcome


def _ran(store: JobStore, doc: JobDoc) -> None:
    store.observe(doc["type"], timings.RUN, (clock.now() - _started_at(doc)).total_seconds())


def _started_at(doc: JobDoc) -> datetime:
    started = doc["started_at"]
    assert started is not None, "a claim always sets started_at"
    return started


def _event(message: str, doc: JobDoc, run_id: str, **fields: Any) -> None:
    """One structured log line of a job's life (JSON: `services/core/logs.py`)."""
    if log.isEnabledFor(logging.INFO):
        ids = {"job_id": doc["_id"], "run_id": run_id, "job_type": doc["type"]}
        log.info(message, extra={**ids, "attempt": doc["attempts"], **fields})


def _persist(write: Callable[[], T]) -> T:
    """Retry an outcome write through a short MongoDB outage rather than lose the work done."""
    deadline = time.monotonic() + OUTCOME_WRITE_PATIENCE
    pause = 0.2
    while True:
        try:
            return write()
        except ConnectionFailure:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _check_result(result: object, max_bytes: int) -> None:
    """A result the job document can hold: JSON, and not too big (MongoDB's limit is 16 MiB)."""
    try:
        size = len(jsonfield.dump(result).encode())
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"the handler returned something that is not JSON: {exc}") from exc
    if size > max_bytes:
        raise PermanentError(
            f"the result is {size} bytes as JSON, more than the limit of {max_bytes}"
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _heartbeat(
    store: JobStore,
    job_id: str,
    run_id: str,
    cancel: threading.Event,
    slots: Gate | None = None,
) -> None:
    """Mark the attempt alive, renew the slots it holds, and pass on a cancel request."""
    try:
        doc = store.heartbeat(job_id, run_id)
        if slots is not None and doc is not None:
            slots.renew(run_id, clock.now())
    except PyMongoError as exc:
        log.warning("heartbeat skipped: %s", exc)
        return
    # Lost the job to another attempt, or asked to cancel: either way, stop early.
    if doc is None or doc.get("cancel_requested"):
        cancel.set()
