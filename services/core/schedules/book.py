"""Making, changing and reading schedules: what the API's routes do, apart from HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.core import clock, jsonfield
from services.core.errors import Conflict, InvalidRequest
from services.core.jobs.submission import JobRequest, parse
from services.core.schedules.requests import SchedulePatch, ScheduleRequest
from services.core.schedules.store import Doc, ScheduleStore
from services.core.schedules.timing import Timing

# A tick's job starts when the tick fires: a start time of its own, or parents to wait for,
# have no meaning here.
_NOT_IN_A_SCHEDULE = ("run_at", "delay_seconds", "depends_on", "depends_on_index")


def checked_job(raw: dict[str, Any], callbacks_on: bool) -> JobRequest:
    """The schedule's job as POST /jobs would take it; InvalidRequest naming `job.<field>`."""
    for field in _NOT_IN_A_SCHEDULE:
        if field in raw:
            raise InvalidRequest(
                f"job.{field}: a scheduled job starts at its tick", field=f"job.{field}"
            )
    job = parse(raw, prefix="job.")
    if job.callback_url is not None and not callbacks_on:
        raise InvalidRequest(
            "job.callback_url: callbacks are off here: no CALLBACK_SECRET", field="job.callback_url"
        )
    return job


def timing_of(doc: Doc) -> Timing:
    return Timing(doc.get("cron"), doc.get("every_seconds"), doc.get("timezone") or "UTC")


def create(
    store: ScheduleStore, request: ScheduleRequest, by: str | None, callbacks_on: bool
) -> Doc:
    if (request.cron is None) == (request.every_seconds is None):
        raise InvalidRequest("cron: give cron or every_seconds, one of them", field="cron")
    checked_job(request.job, callbacks_on)
    t = clock.now()
    timing = Timing(request.cron, request.every_seconds, request.timezone or "UTC")
    doc: Doc = {
        "_id": request.name,
        "cron": request.cron,
        "every_seconds": request.every_seconds,
        "timezone": timing.timezone,
        # As JSON text, like a job's payload: any JSON is kept exactly (integers of any size).
        "job": jsonfield.dump(request.job),
        "paused": request.paused,
        # Interval ticks fall on whole intervals from here.
        "anchor": t,
        "next_run_at": None if request.paused else timing.next_after(t, t),
        "last_run_at": None,
        "last_job_id": None,
        "last_error": None,
        "runs": 0,
        "created_by": by,
        "created_at": t,
        "updated_at": t,
        "history": [{"at": t, "by": by, "change": "created"}],
    }
    try:
        store.insert(doc)
    except DuplicateKeyError:
        raise Conflict(f"a schedule named {request.name!r} exists already") from None
    return doc


def update(
    store: ScheduleStore, name: str, patch: SchedulePatch, by: str | None, callbacks_on: bool
) -> Doc | None:
    """The changed schedule; None if there is none of that name."""
    current = store.get(name)
    if current is None:
        return None
    given = patch.model_dump(exclude_unset=True)
    if "job" in given and given["job"] is not None:
        checked_job(given["job"], callbacks_on)
    fields = _changed_fields(given)
    if not fields:
        return current
    merged = {**current, **fields}
    t = clock.now()
    if "every_seconds" in fields:
        fields["anchor"] = merged["anchor"] = t
    if not current["paused"]:
        fields["next_run_at"] = timing_of(merged).next_after(t, merged["anchor"])
    return store.change(name, fields, "changed " + ", ".join(sorted(given)), by)


def _changed_fields(given: dict[str, object]) -> Doc:
    fields = {k: v for k, v in given.items() if v is not None}
    if "job" in fields:
        fields["job"] = jsonfield.dump(fields["job"])
    # A cron replaces an interval and back.
    if "cron" in fields:
        fields["every_seconds"] = None
    elif "every_seconds" in fields:
        fields["cron"] = None
    return fields


def pause(store: ScheduleStore, name: str, by: str | None) -> Doc | None:
    return store.change(name, {"paused": True, "next_run_at": None}, "paused", by)


def resume(store: ScheduleStore, name: str, by: str | None) -> Doc | None:
    """Ticks go on from now: those missed while paused are not made up."""
    current = store.get(name)
    if current is None:
        return None
    t = clock.now()
    following = timing_of(current).next_after(t, current["anchor"])
    return store.change(name, {"paused": False, "next_run_at": following}, "resumed", by)


def to_api(doc: Doc) -> Doc:
    def iso(value: datetime | None) -> str | None:
        return clock.iso(value)

    return {
        "name": doc["_id"],
        "cron": doc.get("cron"),
        "every_seconds": doc.get("every_seconds"),
        "timezone": doc["timezone"],
        "job": jsonfield.load(doc["job"]),
        "paused": doc["paused"],
        "next_run_at": iso(doc.get("next_run_at")),
        "last_run_at": iso(doc.get("last_run_at")),
        "last_job_id": doc.get("last_job_id"),
        "last_error": doc.get("last_error"),
        "runs": doc.get("runs", 0),
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
        "history": [
            {"at": iso(h["at"]), "by": h.get("by"), "change": h["change"]}
            for h in doc.get("history", [])
        ],
    }
