"""How long one attempt of a job type may run.

The soft limit raises SoftTimeLimitExceeded inside the handler, so the attempt fails and is
retried like any other failure; the hard limit, a grace later, is for a handler that does not
stop: Celery's prefork pool kills its process and starts another. Both travel in the job's
message (Celery's `timelimit` header), so each type gets its own.
"""

from __future__ import annotations

from typing import NamedTuple

from services.core.config import Settings
from services.core.jobs import registry


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
