"""Firing due schedules: each tick becomes one normal job, however many firers run.

A tick's job is submitted with the idempotency key `schedule:<name>:<tick>`, and only then is
the schedule moved past the tick, by a conditional update on it. Two firers that found the same
tick submit the same key (one job) and only one moves it on; a firer that dies between the two
steps leaves the tick due, and the next one submits the same key again, which finds the job made
the first time. Ticks missed while nothing fired (every beat down) are not made up: the tick after
now comes next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.core import jsonfield
from services.core.errors import InvalidRequest
from services.core.jobs.document import JobDoc
from services.core.jobs.submission import IdempotencyConflict, JobRequest
from services.core.schedules.book import checked_job, timing_of
from services.core.schedules.store import Doc, ScheduleStore

log = logging.getLogger(__name__)
BATCH = 100

# Submits the tick's job: (job, submitted_by, idempotency key, link to the schedule) -> job doc.
Submit = Callable[[JobRequest, str | None, str, dict[str, object]], JobDoc]


def fire_due(store: ScheduleStore, submit: Submit, now: datetime, callbacks_on: bool) -> int:
    """Fire every due schedule once; how many ticks became jobs here."""
    fired = 0
    for doc in store.due(now, BATCH):
        tick = doc["next_run_at"]
        following = timing_of(doc).next_after(now, doc["anchor"])
        job_id, error = _submit_tick(doc, tick, submit, callbacks_on)
        run = {"last_job_id": job_id, "last_error": error}
        if store.advance(doc["_id"], tick, following, run) and job_id is not None:
            fired += 1
    return fired


def _submit_tick(
    doc: Doc, tick: datetime, submit: Submit, callbacks_on: bool
) -> tuple[str | None, str | None]:
    name = str(doc["_id"])
    key = f"schedule:{name}:{tick.isoformat()}"
    try:
        job = checked_job(jsonfield.load(doc["job"]), callbacks_on)
        made = submit(job, doc.get("created_by"), key, {"name": name, "tick": tick})
    except IdempotencyConflict:
        # The tick's job was made before the schedule's job was changed: it stands.
        return None, None
    except InvalidRequest as exc:
        # A job type gone from the workers, say: the tick is skipped and the error shown.
        log.warning("schedule %s skipped its tick %s: %s", name, tick, exc.message)
        return None, exc.message
    return str(made["_id"]), None
