"""The job state machine: statuses, the moves allowed between them, and retry backoff."""

from __future__ import annotations

import random
from enum import StrEnum


class JobStatus(StrEnum):
    BLOCKED = "blocked"  # waiting for parent jobs (`depends_on`) to succeed; not on the broker
    SCHEDULED = "scheduled"  # recorded with a start time still ahead; not on the broker yet
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    # Over a concurrency or rate limit at claim time: off the broker until `not_before`.
    THROTTLED = "throttled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Statuses from which a worker may start an attempt. `retrying` and `scheduled` are included
# because such a job is only published once due; the publish and the move to `queued` are not
# atomic.
# `blocked` is not: only its release (`dependencies`) moves it on, to pending or scheduled.
STARTABLE = (
    JobStatus.SCHEDULED,
    JobStatus.PENDING,
    JobStatus.QUEUED,
    JobStatus.RETRYING,
    JobStatus.THROTTLED,
)
CANCELLABLE_AT_ONCE = (*STARTABLE, JobStatus.BLOCKED)
# What a submit records before anything is on the broker.
NOT_YET_PUBLISHED = (JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.BLOCKED)
# Where a blocked job goes: released when every parent succeeded (scheduled if its run_at is
# still ahead), cancelled when one failed for good or was cancelled, or by hand.
RELEASED_TO = (JobStatus.PENDING, JobStatus.SCHEDULED)
PARENT_ENDED_BADLY = (JobStatus.FAILED, JobStatus.CANCELLED)
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
RETRYABLE_BY_HAND = (JobStatus.FAILED, JobStatus.CANCELLED)


def backoff_delay(
    attempt: int, base: float, cap: float, rand: random.Random | None = None
) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with equal jitter."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    r = (rand or random).random()
    return ceiling / 2 + r * ceiling / 2
