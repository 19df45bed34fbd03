"""Every read and write of the `jobs` collection.

Each state change is one conditional update that names the status it expects, so two processes
can never both make the same move.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from services.core import clock, jsonfield, recent
from services.core.config import JOB_RETENTION, PAGE_MAX_BYTES
from services.core.documents import Doc
from services.core.jobs import timings
from services.core.jobs.document import JobDoc
from services.core.jobs.states import (
    CANCELLABLE_AT_ONCE,
    FINISHED,
    NOT_YET_PUBLISHED,
    RETRYABLE_BY_HAND,
    STARTABLE,
    JobStatus,
)
from services.core.jobs.tally import Tally

log = logging.getLogger(__name__)
MAX_ERRORS_KEPT = 20
EXPIRY_INDEX = "expiry"
# Before the TTL index moved to `expires_at` (see `ensure_retention`).
_OLD_EXPIRY_INDEX = "finished_expiry"
CALLBACKS_INDEX = "callbacks_due"
# Dependencies (`dependencies`): blocked jobs by parent, and ended parents still to settle.
BLOCKED_INDEX = "blocked_by_parent"
SETTLE_INDEX = "dependants_by_finished_at"
# What retention deletes: not `failed`, which waits in the dead-letter list to be handled.
EXPIRE = (JobStatus.SUCCEEDED, JobStatus.CANCELLED)
TIMESTAMPS = ("run_at", "created_at", "queued_at", "started_at", "finished_at", "updated_at")
# How a job stands, for those watching it: what changes while it runs, not its payload or result.
STATE_FIELDS = (
    "status",
    "attempts",
    "progress",
    "error",
    "worker",
    "cancel_requested",
    *TIMESTAMPS,
)
STATE_PROJECTION = dict.fromkeys(STATE_FIELDS, 1)
_AFTER = ReturnDocument.AFTER


def new_job(
    type_: str,
    payload: Any,
    priority: int,
    max_attempts: int,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    submitted_by: str | None = None,
    run_at: datetime | None = None,
    callback_url: str | None = None,
    schedule: Doc | None = None,
) -> JobDoc:
    """A job document as it is first recorded, not yet on the broker: `pending`, or `scheduled`
    when it has a `run_at` still ahead."""
    t = clock.now()
    scheduled = run_at is not None and run_at > t
    doc: JobDoc = {
        "_id": str(ObjectId()),
        "type": type_,
        "payload": jsonfield.dump(payload),
        "priority": priority,
        "status": (JobStatus.SCHEDULED if scheduled else JobStatus.PENDING).value,
        "run_at": run_at if scheduled else None,
        "attempts": 0,
        "max_attempts": max_attempts,
        "result": None,
        "error": None,
        "errors": [],
        "progress": None,
        "created_at": t,
        "queued_at": None,
        "started_at": None,
        "finished_at": None,
        "updated_at": t,
        "worker": None,
        "cancel_requested": False,
        # The API key that submitted it, which may read it back without `jobs:read`.
        "submitted_by": submitted_by,
    }
    if idempotency_key is not None:
        doc["idempotency_key"] = idempotency_key
        doc["request_hash"] = request_hash
    if callback_url is not None:
        doc.update({"callback_url": callback_url, "callback_pending": True, "callback_attempts": 0})
    if schedule is not None:
        # The schedule and tick this job was made for.
        doc["schedule"] = schedule
    return doc


def _schedule_to_api(link: Doc | None) -> Doc | None:
    return None if link is None else {"name": link["name"], "tick": clock.iso(link["tick"])}


def _callback_to_api(doc: JobDoc) -> Doc | None:
    if not doc.get("callback_url"):
        return None
    return {
        "url": doc["callback_url"],
        "pending": doc.get("callback_pending", False),
        "attempts": doc.get("callback_attempts", 0),
        "error": doc.get("callback_error"),
        "sent_at": clock.iso(doc.get("callback_sent_at")),
    }


def state_to_api(doc: JobDoc) -> Doc:
    """A job's state fields as clients see them (the events of `GET /jobs/<id>/events`)."""
    fields: Mapping[str, Any] = doc
    state = {k: fields.get(k) for k in STATE_FIELDS if k not in TIMESTAMPS}
    return {"id": doc["_id"], **state, **{k: clock.iso(fields.get(k)) for k in TIMESTAMPS}}


def to_api(doc: JobDoc) -> Doc:
    """The job as clients see it."""
    return {
        "id": doc["_id"],
        "type": doc["type"],
        "payload": jsonfield.load(doc["payload"]),
        "priority": doc["priority"],
        "status": doc["status"],
        "attempts": doc["attempts"],
        "max_attempts": doc["max_attempts"],
        "result": jsonfield.load(doc.get("result")),
        "error": doc.get("error"),
        "errors": [{**e, "at": clock.iso(e.get("at"))} for e in doc.get("errors", [])],
        "progress": doc.get("progress"),
        "idempotency_key": doc.get("idempotency_key"),
        "cancel_requested": doc.get("cancel_requested", False),
        "worker": doc.get("worker"),
        "callback": _callback_to_api(doc),
        "schedule": _schedule_to_api(doc.get("schedule")),
        "depends_on": doc.get("depends_on", []),
        "timeline": [{**e, "at": clock.iso(e.get("at"))} for e in doc.get("timeline", [])],
        "timeout_seconds": doc.get("timeout_seconds"),
        "concurrency_key": doc.get("concurrency_key"),
        **_timestamps(doc),
    }


def _timestamps(doc: Mapping[str, Any]) -> Doc:
    return {k: clock.iso(doc.get(k)) for k in TIMESTAMPS}


def _error_entry(attempt: int, error: str) -> Doc:
    return {"attempt": attempt, "error": error, "at": clock.now()}


def _statuses(statuses: tuple[JobStatus, ...]) -> Doc:
    return {"$in": [s.value for s in statuses]}


class JobStore:
    def __init__(
        self,
        db: Database,
        *,
        retention: float = JOB_RETENTION,
        page_max_bytes: int = PAGE_MAX_BYTES,
        tally_outcomes: bool = False,
    ) -> None:
        self.jobs: Collection[JobDoc] = db["jobs"]
        self.retention = retention
        self.page_max_bytes = page_max_bytes
        # Finished jobs per type and status, so /stats never counts history: one document per
        # type, `{_id: type, succeeded: n, failed: n, cancelled: n}`.
        self.finished_counts: Collection = db["job_counts"]
        # A worker's outcomes are counted by a thread of their own (`tally`), off the job's path.
        self._tally = Tally(self.finished_counts) if tally_outcomes else None
        # Wait and run time histograms per type (`timings`), counted the same way.
        self.timings: Collection = db["job_timings"]
        self._timing_tally = Tally(self.timings) if tally_outcomes else None
        # Called with the ids of parents of blocked jobs (`dependants`) as they end, to settle
        # their children (`dependencies.on_ended`); the runtime sets it.
        self.parents_ended: Callable[[list[str]], None] | None = None
        # Told the id of a job that ended while a request waited for it (`ended`).
        self.watched_ended: Callable[[str], None] | None = None

    def ensure_indexes(self) -> None:
        self.jobs.create_index("idempotency_key", unique=True, sparse=True)
        self.jobs.create_index([("status", ASCENDING), ("_id", DESCENDING)])
        self.jobs.create_index([("type", ASCENDING), ("_id", DESCENDING)])
        # The relay's and the sweep's indexes hold only jobs in that status (partial indexes), so
        # their size, and what every write pays to keep them, follows the work in flight.
        for field, status in (
            ("run_at", JobStatus.SCHEDULED),  # start times still ahead
            ("updated_at", JobStatus.PENDING),  # the outbox: publishes that never completed
            ("retry_at", JobStatus.RETRYING),  # retries waiting out their backoff
            ("heartbeat_at", JobStatus.RUNNING),  # running attempts and their liveness
            ("not_before", JobStatus.THROTTLED),  # jobs waiting on a concurrency or rate limit
        ):
            self.jobs.create_index(
                [(field, ASCENDING)],
                name=f"{status.value}_by_{field}",
                partialFilterExpression={"status": status.value},
            )
        # Callbacks to make: jobs whose callback is still to deliver, by when it is due. A job
        # gets `callback_next_at` when it ends, so one still in flight is never in range.
        self.jobs.create_index(
            [("callback_next_at", ASCENDING)],
            name=CALLBACKS_INDEX,
            partialFilterExpression={"callback_pending": True},
        )
        # Dependencies: a parent's blocked children (multikey on `depends_on`, blocked jobs only),
        # and the parents whose end the sweep has still to settle once more.
        self.jobs.create_index(
            [("depends_on", ASCENDING)],
            name=BLOCKED_INDEX,
            partialFilterExpression={"status": JobStatus.BLOCKED.value},
        )
        self.jobs.create_index(
            [("finished_at", ASCENDING)],
            name=SETTLE_INDEX,
            partialFilterExpression={"dependants": True},
        )
        self.ensure_retention(self.retention)

    def _parents_ended(self, doc: JobDoc | None) -> None:
        if doc is not None and doc.get("dependants") and self.parents_ended is not None:
            self.parents_ended([doc["_id"]])

    def ensure_retention(self, seconds: float) -> None:
        """Succeeded and cancelled jobs expire `seconds` after they finished, by the server's
        TTL monitor (about once a minute); failed jobs, the dead letters, stay until retried.
        A changed retention is applied to the existing index; 0 drops it and keeps every job.

        The index is on `expires_at`, which only jobs that may expire carry, and has no partial
        filter: secantusd-rs runs a TTL pass as a delete of `{$and: [range, partial filter]}`,
        which it answers with a full scan, a write-locked scan of the whole history every minute
        (about 20 s at 1,000,000 jobs). A plain range is an index scan of the expired end only."""
        names = {i["name"]: i for i in self.jobs.list_indexes()}
        if _OLD_EXPIRY_INDEX in names:
            self.jobs.drop_index(_OLD_EXPIRY_INDEX)
        current = names.get(EXPIRY_INDEX)
        if seconds <= 0:
            if current is not None:
                self.jobs.drop_index(EXPIRY_INDEX)
            return
        if current is None:
            self.jobs.create_index(
                [("expires_at", ASCENDING)], name=EXPIRY_INDEX, expireAfterSeconds=int(seconds)
            )
        elif current.get("expireAfterSeconds") != int(seconds):
            self.jobs.database.command(
                "collMod",
                self.jobs.name,
                index={"name": EXPIRY_INDEX, "expireAfterSeconds": int(seconds)},
            )

    # -- reads ------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobDoc | None:
        return self.jobs.find_one({"_id": job_id})

    def get_by_idempotency_key(self, key: str) -> JobDoc | None:
        return self.jobs.find_one({"idempotency_key": key})

    def watch(self, job_id: str) -> None:
        """Mark a job a request waits for, so that the worker that ends it says so at once."""
        unfinished = [s.value for s in JobStatus if s not in FINISHED]
        self.jobs.update_one(
            {"_id": job_id, "status": {"$in": unfinished}}, {"$set": {"watched": True}}
        )

    def states_of(self, job_ids: list[str]) -> list[JobDoc]:
        """The jobs' state fields (`STATE_FIELDS`), without their payloads and results."""
        return list(self.jobs.find({"_id": {"$in": list(set(job_ids))}}, STATE_PROJECTION))

    def page(
        self,
        status: str | None,
        type_: str | None,
        limit: int,
        cursor: str | None,
        max_bytes: int | None = None,
    ) -> tuple[list[JobDoc], str | None]:
        """Newest first; `cursor` is the `next` of the previous page.

        Jobs in flight are few: the status index serves them. Any other filter matches history,
        so the page walks `_id` windows instead (`recent`), and may come back short with `next`;
        any page does once its jobs pass `max_bytes` (PAGE_MAX_BYTES by default).
        """
        max_bytes = max_bytes or self.page_max_bytes
        equal = {k: v for k, v in (("status", status), ("type", type_)) if v}
        if status is None or JobStatus(status) in FINISHED:
            return recent.page(self.jobs, equal, limit, cursor, clock.now(), max_bytes)
        query: Doc = dict(equal)
        if cursor:
            query["_id"] = {"$lt": cursor}
        return recent.bounded(
            self.jobs.find(query).sort("_id", DESCENDING).limit(limit + 1), limit, max_bytes
        )

    def counts(self) -> list[Doc]:
        """How many jobs there are of each (status, type).

        Jobs in flight are counted through the status index, so the cost follows the work in
        flight; finished jobs come from their counters, so history costs nothing.
        """
        in_flight = {"status": {"$in": [s.value for s in JobStatus if s not in FINISHED]}}
        pipeline: list[Doc] = [
            {"$match": in_flight},
            {"$group": {"_id": {"status": "$status", "type": "$type"}, "n": {"$sum": 1}}},
        ]
        # Rows of the $group stage, not jobs.
        groups = cast(list[Doc], list(self.jobs.aggregate(pipeline)))
        rows = [
            {"status": row["_id"]["status"], "type": row["_id"]["type"], "count": row["n"]}
            for row in groups
        ]
        for counter in self.finished_counts.find({}):
            rows += [
                {"status": s.value, "type": counter["_id"], "count": counter[s.value]}
                for s in FINISHED
                if counter.get(s.value)
            ]
        return rows

    def count_finished(self, job_type: str, status: str, n: int = 1) -> None:
        """Move a finished-jobs counter; after the transition it counts, never before it.

        Two writes, not one: a process that dies between them leaves the counter one short.
        """
        self.finished_counts.update_one({"_id": job_type}, {"$inc": {status: n}}, upsert=True)

    def due_for_dispatch(self, outbox_grace: float, limit: int = 500) -> list[JobDoc]:
        """Pending jobs whose publish never completed, retries whose backoff is over, and
        scheduled jobs whose time has come; each through its status's partial index."""
        t = clock.now()
        queries = (
            {
                "status": JobStatus.PENDING.value,
                "updated_at": {"$lt": t - timedelta(seconds=outbox_grace)},
            },
            {"status": JobStatus.RETRYING.value, "retry_at": {"$lte": t}},
            {"status": JobStatus.SCHEDULED.value, "run_at": {"$lte": t}},
            {"status": JobStatus.THROTTLED.value, "not_before": {"$lte": t}},
        )
        fields = {"priority": 1, "status": 1, "type": 1, "timeout_seconds": 1, "not_before": 1}
        return [doc for query in queries for doc in self.jobs.find(query, fields).limit(limit)]

    def stale_running(self, stale_after: float, limit: int = 500) -> list[JobDoc]:
        cutoff = clock.now() - timedelta(seconds=stale_after)
        query = {"status": JobStatus.RUNNING.value, "heartbeat_at": {"$lt": cutoff}}
        return list(self.jobs.find(query, {"run_id": 1, "attempts": 1}).limit(limit))

    # -- writes from the web replicas -------------------------------------------------------------

    def insert(self, doc: JobDoc) -> None:
        self.jobs.insert_one(doc)

    def insert_many(self, docs: list[JobDoc]) -> None:
        self.jobs.insert_many(docs, ordered=True)

    def discard_unpublished(self, job_ids: list[str]) -> None:
        """Forget jobs recorded for a request the client is told was refused (a 503)."""
        if job_ids:
            self.jobs.delete_many({"_id": {"$in": job_ids}, "status": _statuses(NOT_YET_PUBLISHED)})

    def mark_queued(self, job_id: str, was: str) -> JobDoc | None:
        t = clock.now()
        return self.jobs.find_one_and_update(
            {"_id": job_id, "status": was},
            {"$set": {"status": JobStatus.QUEUED.value, "queued_at": t, "updated_at": t}},
            return_document=_AFTER,
        )

    def mark_many_queued(
        self,
        job_ids: list[str],
        was: str = JobStatus.PENDING.value,
        not_before_by: datetime | None = None,
    ) -> datetime:
        """Move the jobs from `was` to queued in one `_id` `$in` write, whatever their number.
        `not_before_by`: only throttled jobs whose `not_before` is no later, so a job that a
        worker took and throttled again meanwhile (a later `not_before`) stays throttled."""
        t = clock.now()
        query: Doc = {"_id": {"$in": job_ids}, "status": was}
        if not_before_by is not None:
            query["not_before"] = {"$lte": not_before_by}
        if job_ids:
            self.jobs.update_many(
                query,
                {"$set": {"status": JobStatus.QUEUED.value, "queued_at": t, "updated_at": t}},
            )
        return t

    def cancel(self, job_id: str) -> JobDoc | None:
        """Cancel a job that has not started; ask a running one to stop; dismiss a dead letter
        (`dismiss`). None if it succeeded or was cancelled already."""
        t = clock.now()
        cancelled = self.jobs.find_one_and_update(
            {"_id": job_id, "status": _statuses(CANCELLABLE_AT_ONCE)},
            {
                "$set": {
                    "status": JobStatus.CANCELLED.value,
                    "cancel_requested": True,
                    "finished_at": t,
                    "expires_at": t,
                    "updated_at": t,
                    # Due from now, should it have a callback (`callbacks`).
                    "callback_next_at": t,
                }
            },
            return_document=_AFTER,
        )
        if cancelled is not None:
            self.count_finished(cancelled["type"], JobStatus.CANCELLED.value)
            self._parents_ended(cancelled)
            return cancelled
        dismissed = self.dismiss(job_id, t)
        if dismissed is not None:
            return dismissed
        return self.jobs.find_one_and_update(
            {"_id": job_id, "status": JobStatus.RUNNING.value},
            {"$set": {"cancel_requested": True, "updated_at": t}},
            return_document=_AFTER,
        )

    def dismiss(self, job_id: str, t: datetime) -> JobDoc | None:
        """A dead letter handled by cancelling it: `failed` becomes `cancelled` and expires with
        the retention from now. When it failed stays its `finished_at`; its callback, sent for
        the failure, is not sent again; its dependants were cancelled when it failed."""
        dismissed = self.jobs.find_one_and_update(
            {"_id": job_id, "status": JobStatus.FAILED.value},
            {
                "$set": {
                    "status": JobStatus.CANCELLED.value,
                    "cancel_requested": True,
                    "expires_at": t,
                    "updated_at": t,
                }
            },
            return_document=_AFTER,
        )
        if dismissed is not None:
            self.finished_counts.update_one(
                {"_id": dismissed["type"]},
                {"$inc": {JobStatus.FAILED.value: -1, JobStatus.CANCELLED.value: 1}},
                upsert=True,
            )
        return dismissed

    def reopen(self, job_id: str) -> JobDoc | None:
        """A failed or cancelled job goes back to `pending` with a fresh set of attempts.

        Returns the job as it was before, so that `undo_reopen` can put it back.
        """
        before = self.jobs.find_one_and_update(
            {"_id": job_id, "status": _statuses(RETRYABLE_BY_HAND)},
            {
                "$set": {
                    "status": JobStatus.PENDING.value,
                    "attempts": 0,
                    "cancel_requested": False,
                    "error": None,
                    "result": None,
                    "finished_at": None,
                    "expires_at": None,
                    "updated_at": clock.now(),
                }
            },
        )
        if before is not None:
            self.count_finished(before["type"], before["status"], -1)
            if before.get("callback_url"):
                # Its next ending is told again, whatever became of the last one's callback.
                self.jobs.update_one(
                    {"_id": job_id},
                    {
                        "$set": {"callback_pending": True, "callback_attempts": 0},
                        "$unset": {"callback_next_at": ""},
                    },
                )
        return before

    # -- callbacks (`callbacks.py`) --------------------------------------------------------------

    def due_callbacks(self, now: datetime, limit: int) -> list[JobDoc]:
        """Ended jobs whose callback is due, soonest first (their partial index)."""
        query = {"callback_pending": True, "callback_next_at": {"$lte": now}}
        found = self.jobs.find(query, {"callback_next_at": 1}).sort("callback_next_at", 1)
        return list(found.limit(limit))

    def claim_callback(self, job_id: str, due_at: datetime, lease_until: datetime) -> bool:
        """Take a due callback for one try: its next try pushed to `lease_until`, should this
        one never report. False when another relay took it first."""
        taken = self.jobs.update_one(
            {"_id": job_id, "callback_pending": True, "callback_next_at": due_at},
            {"$set": {"callback_next_at": lease_until}, "$inc": {"callback_attempts": 1}},
        )
        return taken.modified_count == 1

    def callback_sent(self, job_id: str) -> None:
        self.jobs.update_one(
            {"_id": job_id, "callback_pending": True},
            {
                "$set": {
                    "callback_pending": False,
                    "callback_sent_at": clock.now(),
                    "callback_error": None,
                },
                "$unset": {"callback_next_at": ""},
            },
        )

    def callback_failed(self, job_id: str, error: str, retry_at: datetime | None) -> None:
        """A try that failed: the next one at `retry_at`, or none (given up) when None."""
        changes: Doc = {"$set": {"callback_error": error}}
        if retry_at is None:
            changes["$set"]["callback_pending"] = False
            changes["$unset"] = {"callback_next_at": ""}
        else:
            changes["$set"]["callback_next_at"] = retry_at
        self.jobs.update_one({"_id": job_id, "callback_pending": True}, changes)

    def undo_reopen(self, before: JobDoc) -> None:
        """Put back a reopened job whose publish failed, unless a worker has it already."""
        fields = (
            "status",
            "attempts",
            "cancel_requested",
            "error",
            "result",
            "finished_at",
            "expires_at",
        )
        undone = self.jobs.update_one(
            {"_id": before["_id"], "status": JobStatus.PENDING.value},
            {"$set": {**{k: before.get(k) for k in fields}, "updated_at": clock.now()}},
        )
        if undone.modified_count == 1:
            self.count_finished(before["type"], before["status"])

    # -- writes from the workers ------------------------------------------------------------------

    def claim(self, job_id: str, run_id: str, worker: str, take_over: bool) -> JobDoc | None:
        """Start an attempt. `take_over` also claims a job whose previous worker died mid-run."""
        t = clock.now()
        update = {
            "$set": {
                "status": JobStatus.RUNNING.value,
                "run_id": run_id,
                "worker": worker,
                "started_at": t,
                "heartbeat_at": t,
                "updated_at": t,
            },
            "$inc": {"attempts": 1},
        }
        doc = self.jobs.find_one_and_update(
            {"_id": job_id, "status": _statuses(STARTABLE), "cancel_requested": False},
            update,
            return_document=_AFTER,
        )
        if doc is None and take_over:
            doc = self.jobs.find_one_and_update(
                {"_id": job_id, "status": JobStatus.RUNNING.value}, update, return_document=_AFTER
            )
        return doc

    def defer(self, job_id: str, run_id: str, not_before: datetime) -> bool:
        """Put back a job just claimed that is over a concurrency or rate limit: `throttled`
        until `not_before`, its claim undone (no attempt counted)."""
        changes = {"status": JobStatus.THROTTLED.value, "not_before": not_before, "worker": None}
        undo = {"$inc": {"attempts": -1}, "$unset": {"run_id": "", "heartbeat_at": ""}}
        return self._end_attempt(
            job_id, run_id, {"$set": {**changes, "updated_at": clock.now()}, **undo}
        )

    def _end_attempt(self, job_id: str, run_id: str, update: Doc) -> bool:
        """Move the job out of `running` if the attempt `run_id` still holds it."""
        query = {"_id": job_id, "run_id": run_id, "status": JobStatus.RUNNING.value}
        return self.jobs.update_one(query, update).modified_count == 1

    def running_on(self, job_id: str, worker: str) -> JobDoc | None:
        """The job, if the attempt running it is the one on `worker`."""
        return self.jobs.find_one(
            {"_id": job_id, "status": JobStatus.RUNNING.value, "worker": worker}
        )

    def heartbeat(self, job_id: str, run_id: str) -> JobDoc | None:
        """Mark the run alive; None when this run no longer owns the job."""
        t = clock.now()
        return self.jobs.find_one_and_update(
            {"_id": job_id, "run_id": run_id, "status": JobStatus.RUNNING.value},
            {"$set": {"heartbeat_at": t}},
        )

    def set_progress(self, job_id: str, run_id: str, progress: float) -> None:
        self.jobs.update_one(
            {"_id": job_id, "run_id": run_id, "status": JobStatus.RUNNING.value},
            {"$set": {"progress": progress, "updated_at": clock.now()}},
        )

    def finish(
        self,
        job_id: str,
        run_id: str,
        status: JobStatus,
        *,
        job_type: str,
        result: Any = None,
        error: str | None = None,
        attempt: int = 0,
    ) -> bool:
        """Record the outcome of the run `run_id`; False when another run owns the job now."""
        assert status in FINISHED
        t = clock.now()
        update: Doc = {
            "$set": {
                "status": status.value,
                "result": None if result is None else jsonfield.dump(result),
                "error": error,
                "finished_at": t,
                # Only a failed job, a dead letter, is kept past the retention.
                "expires_at": t if status in EXPIRE else None,
                "updated_at": t,
                # Due from now, should it have a callback (`callbacks`).
                "callback_next_at": t,
            }
        }
        if error is not None:
            update["$push"] = {
                "errors": {"$each": [_error_entry(attempt, error)], "$slice": -MAX_ERRORS_KEPT}
            }
        # The same round trip as an update, and it tells whether the job is a parent to settle.
        ended = self.jobs.find_one_and_update(
            {"_id": job_id, "run_id": run_id, "status": JobStatus.RUNNING.value},
            update,
            projection={"dependants": 1, "watched": 1},
        )
        if ended is None:
            return False
        if self._tally is not None:
            self._tally.add(job_type, status.value)
        else:
            self.count_finished(job_type, status.value)
        self._parents_ended(ended)
        if ended.get("watched") and self.watched_ended is not None:
            self.watched_ended(job_id)
        return True

    def observe(self, job_type: str, histogram: str, seconds: float) -> None:
        """Count one wait or run time of a job of `job_type` (`timings`)."""
        increments = timings.increments(histogram, max(seconds, 0.0))
        if self._timing_tally is None:
            self.timings.update_one({"_id": job_type}, {"$inc": increments}, upsert=True)
            return
        for field, n in increments.items():
            self._timing_tally.add(job_type, field, n)

    def timing_counters(self) -> list[Doc]:
        """Every job type's histogram counters (a document per type)."""
        return list(self.timings.find({}))

    def flush_tally(self) -> None:
        """Write the counts gathered in the background so far (a worker process's last act)."""
        for tally in (self._tally, self._timing_tally):
            if tally is not None and not tally.flush():
                log.warning("%s left short: the database took too long", tally.name)

    def schedule_retry(
        self, job_id: str, run_id: str, error: str, attempt: int, retry_at: datetime
    ) -> bool:
        t = clock.now()
        outcome = self.jobs.update_one(
            {"_id": job_id, "run_id": run_id, "status": JobStatus.RUNNING.value},
            {
                "$set": {
                    "status": JobStatus.RETRYING.value,
                    "error": error,
                    "retry_at": retry_at,
                    "updated_at": t,
                },
                "$push": {
                    "errors": {"$each": [_error_entry(attempt, error)], "$slice": -MAX_ERRORS_KEPT}
                },
            },
        )
        return outcome.modified_count == 1
