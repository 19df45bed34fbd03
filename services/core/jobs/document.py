"""A job as stored in the `jobs` collection: its fields and their types.

Every field may be missing from a document a store method returns: reads that need a few fields
project them (`states_of`, the relay's queries), and fields that only some jobs have (a
callback, parents, limits) are written only when they apply. docs/data-model.md says which
index serves each query over them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict


class JobDoc(TypedDict, total=False):
    _id: str
    type: str
    # JSON text (`jsonfield`): stored as sent, whatever keys the payload and result have.
    payload: str
    result: str | None
    priority: int
    status: str
    attempts: int
    max_attempts: int
    error: str | None
    # {attempt, error, at}, the last MAX_ERRORS_KEPT.
    errors: list[dict[str, Any]]
    progress: float | None
    cancel_requested: bool
    submitted_by: str | None
    idempotency_key: str
    request_hash: str | None
    created_at: datetime
    updated_at: datetime
    run_at: datetime | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    # The attempt in progress: its id, its process, its last sign of life.
    run_id: str
    worker: str | None
    heartbeat_at: datetime
    retry_at: datetime
    # Throttled by a concurrency or rate limit until then.
    not_before: datetime
    # The TTL index's key: set only on jobs that expire (succeeded, cancelled).
    expires_at: datetime | None
    timeout_seconds: float
    concurrency_key: str
    callback_url: str
    callback_pending: bool
    callback_attempts: int
    callback_next_at: datetime
    callback_sent_at: datetime
    callback_error: str | None
    # {name, tick} of the schedule that made it.
    schedule: dict[str, Any]
    depends_on: list[str]
    # Whether a blocked job waits on this one (`dependencies`).
    dependants: bool
    # A request waits for it to end (`ended`): its worker says so when it does.
    watched: bool
    # {at, event, parent, detail}: what its parents did to it.
    timeline: list[dict[str, Any]]
