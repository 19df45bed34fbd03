"""How long one attempt of a job type may run.

The soft limit raises SoftTimeLimitExceeded inside the handler, so the attempt fails and is
retried like any other failure; the hard limit, a grace later, is for a handler that does not
stop: Celery's prefork pool kills its process and starts another. Both travel in the job's
message (Celery's `timelimit` header), so each type, and each job given `timeout_seconds` on
submit, gets its own.
"""

from __future__ import annotations

from typing import NamedTuple

from services.core.config import Settings
from services.core.jobs import registry
from services.core.jobs.document import JobDoc


class TimeLimits(NamedTuple):
    soft: float
    hard: float


def for_type(name: str, settings: Settings) -> TimeLimits:
    """The limits of job type `name`: configured, else declared, else the default; capped."""
    limit = dict(settings.job_time_limits).get(name)
    if limit is None:
        known = registry.get(name)
        limit = known.time_limit if known is not None else None
    soft = min(limit or settings.job_time_limit, settings.job_time_limit_max)
    return TimeLimits(soft, soft + settings.job_time_limit_grace)


def for_job(job_type: str, timeout: float | None, settings: Settings) -> TimeLimits:
    """The limits of one job: its own `timeout_seconds` (capped), else its type's."""
    if timeout is None:
        return for_type(job_type, settings)
    soft = min(timeout, settings.job_time_limit_max)
    return TimeLimits(soft, soft + settings.job_time_limit_grace)


def of(doc: JobDoc, settings: Settings) -> TimeLimits:
    """The limits of a recorded job."""
    return for_job(doc["type"], doc.get("timeout_seconds"), settings)
