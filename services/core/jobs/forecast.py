"""`POST /jobs/dry-run`: what submitting jobs would do, answered without recording anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.core import clock, health, queues
from services.core.errors import BrokerUnavailable
from services.core.jobs import dependencies, limits
from services.core.jobs.concurrency import Gate
from services.core.jobs.states import JobStatus
from services.core.jobs.submission import JobRequest


def forecast(
    jobs: list[JobRequest], gate: Gate, now: datetime, parents: dict[str, str] | None = None
) -> dict[str, Any]:
    """Each job as it would be recorded, and the queue it would join as it stands now.
    `parents`: the status of each parent named by id, as `submission.parent_statuses` checked
    them (the same 400, 404 and 409 as a submit: the dependency graph of a batch included)."""
    return {"jobs": [_one(job, gate, now, parents or {}) for job in jobs], "queue": _queue()}


def _status(job: JobRequest, later: bool, parents: dict[str, str]) -> JobStatus:
    if job.depends_on_index or dependencies.waits(job.depends_on or [], parents):
        return JobStatus.BLOCKED
    return JobStatus.SCHEDULED if later else JobStatus.PENDING


def _one(job: JobRequest, gate: Gate, now: datetime, parents: dict[str, str]) -> dict[str, Any]:
    s = gate.settings
    start = job.start_at(now)
    later = start is not None and start > now
    time_limits = limits.for_job(job.type, job.timeout_seconds, s)
    return {
        "type": job.type,
        "priority": job.priority,
        "status": _status(job, later, parents).value,
        "depends_on": list(dict.fromkeys(job.depends_on or [])),
        "depends_on_index": list(dict.fromkeys(job.depends_on_index or [])),
        "starts_at": clock.iso(start) if later else None,
        "max_attempts": job.max_attempts or s.job_max_attempts,
        "time_limit_seconds": {"soft": time_limits.soft, "hard": time_limits.hard},
        "callback": job.callback_url is not None,
        # The concurrency and rate limits it would meet, and how full each is now.
        "limits": gate.report(job.type, job.concurrency_key, now),
    }


def _queue() -> dict[str, Any] | None:
    """The jobs queue now: messages ahead of a new job at most (those of a lower priority run
    after it), and the workers taking from it; None while the broker cannot say."""
    try:
        depth = health.queue_depths()[queues.JOBS]
    except BrokerUnavailable:
        return None
    return {"name": queues.JOBS, "waiting": depth["messages"], "workers": depth["consumers"]}
