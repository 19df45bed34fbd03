"""What each move of a job writes, field by field, with the clock stood still.

Readers (the API, the relay, the sweep, the indexes) find jobs by these exact field names, so a
transition that writes a field under another name, or forgets one, breaks them silently.
"""

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest

from services.core import clock
from services.core.jobs.document import JobDoc
from services.core.jobs.states import JobStatus
from services.core.jobs.store import (
    BLOCKED_INDEX,
    CALLBACKS_INDEX,
    EXPIRY_INDEX,
    MAX_ERRORS_KEPT,
    SETTLE_INDEX,
    Doc,
    JobStore,
    new_job,
    to_api,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def advance(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(clock, "now", lambda: c.t)
    return c


def _got(store: JobStore, job_id: str) -> JobDoc:
    doc = store.get(job_id)
    assert doc is not None
    return doc


def _changed(store: JobStore, job_id: str, before: Mapping[str, Any]) -> Doc:
    """The fields a move changed, with their new values (None for one it removed)."""
    after: Mapping[str, Any] = _got(store, job_id)
    return {k: after.get(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _recorded(store: JobStore, max_attempts: int = 3) -> JobDoc:
    doc = new_job("noop", {"n": 1}, priority=4, max_attempts=max_attempts, submitted_by="key-1")
    store.insert(doc)
    return doc


def _boom(t: datetime) -> Doc:
    """What a first attempt that failed with "boom" at `t` writes besides its status."""
    return {"error": "boom", "errors": [{"attempt": 1, "error": "boom", "at": t}], "updated_at": t}


def test_a_new_job_is_pending_with_every_field_in_place(frozen: Clock) -> None:
    doc = new_job("noop", {"n": 1}, 4, 3, "idem", "hash", "key-1", run_at=T0)
    # Due now is not ahead: pending, to be published at once.
    assert doc == {
        "_id": doc["_id"],
        "type": "noop",
        "payload": '{"n":1}',
        "priority": 4,
        "status": "pending",
        "run_at": None,
        "attempts": 0,
        "max_attempts": 3,
        "result": None,
        "error": None,
        "errors": [],
        "progress": None,
        "created_at": T0,
        "queued_at": None,
        "started_at": None,
        "finished_at": None,
        "updated_at": T0,
        "worker": None,
        "cancel_requested": False,
        "submitted_by": "key-1",
        "idempotency_key": "idem",
        "request_hash": "hash",
    }
    later = T0 + timedelta(seconds=1)
    scheduled = new_job("noop", {}, 4, 3, run_at=later)
    assert (scheduled["status"], scheduled["run_at"]) == ("scheduled", later)
    assert "idempotency_key" not in scheduled and "request_hash" not in scheduled


def test_the_api_shows_every_field_of_a_job() -> None:
    at = T0 + timedelta(seconds=1)
    doc: JobDoc = {
        "_id": "j1",
        "type": "noop",
        "payload": '{"n":1}',
        "priority": 4,
        "status": "retrying",
        "attempts": 1,
        "max_attempts": 3,
        "result": '{"r":2}',
        "error": "boom",
        "errors": [{"attempt": 1, "error": "boom", "at": at}],
        "progress": 0.5,
        "idempotency_key": "idem",
        "cancel_requested": True,
        "worker": "host:1",
        "callback_url": "https://example.com/hook",
        "callback_pending": False,
        "callback_attempts": 2,
        "callback_error": None,
        "callback_sent_at": at,
        "depends_on": ["p1"],
        "timeline": [{"at": at, "event": "released", "parent": "p1", "detail": "done"}],
        "timeout_seconds": 7.5,
        "concurrency_key": "customer-1",
        "run_at": None,
        "created_at": T0,
        "queued_at": T0,
        "started_at": at,
        "finished_at": None,
        "updated_at": at,
    }
    z0, z1 = "2026-01-02T03:04:05.006000Z", "2026-01-02T03:04:06.006000Z"
    assert to_api(doc) == {
        "id": "j1",
        "type": "noop",
        "payload": {"n": 1},
        "priority": 4,
        "status": "retrying",
        "attempts": 1,
        "max_attempts": 3,
        "result": {"r": 2},
        "error": "boom",
        "errors": [{"attempt": 1, "error": "boom", "at": z1}],
        "progress": 0.5,
        "idempotency_key": "idem",
        "cancel_requested": True,
        "worker": "host:1",
        "callback": {
            "url": "https://example.com/hook",
            "pending": False,
            "attempts": 2,
            "error": None,
            "sent_at": z1,
        },
        "schedule": None,
        "depends_on": ["p1"],
        "timeline": [{"at": z1, "event": "released", "parent": "p1", "detail": "done"}],
        "timeout_seconds": 7.5,
        "concurrency_key": "customer-1",
        "run_at": None,
        "created_at": z0,
        "queued_at": z0,
        "started_at": z1,
        "finished_at": None,
        "updated_at": z1,
    }
    bare: JobDoc = {
        "_id": doc["_id"],
        "type": doc["type"],
        "payload": doc["payload"],
        "priority": doc["priority"],
        "status": doc["status"],
        "attempts": doc["attempts"],
    }
    shown = to_api({**bare, "max_attempts": 3})
    assert shown["errors"] == [] and shown["cancel_requested"] is False
    assert shown["depends_on"] == [] and shown["timeline"] == []
    assert shown["result"] is shown["error"] is shown["idempotency_key"] is None
    assert shown["timeout_seconds"] is shown["concurrency_key"] is None


def test_an_attempt_writes_its_start_heartbeats_progress_and_outcome(
    store: JobStore, frozen: Clock
) -> None:
    job_id = _recorded(store)["_id"]
    before = _got(store, job_id)
    t = frozen.advance()
    store.mark_queued(job_id, was="pending")
    assert _changed(store, job_id, before) == {"status": "queued", "queued_at": t, "updated_at": t}

    before = _got(store, job_id)
    t = frozen.advance()
    store.claim(job_id, "run-1", "host:1", take_over=False)
    assert _changed(store, job_id, before) == {
        "status": "running",
        "run_id": "run-1",
        "worker": "host:1",
        "attempts": 1,
        **dict.fromkeys(("started_at", "heartbeat_at", "updated_at"), t),
    }

    before = _got(store, job_id)
    t = frozen.advance()
    assert store.heartbeat(job_id, "run-2") is None
    assert store.heartbeat(job_id, "run-1") == before
    store.set_progress(job_id, "run-2", 0.9)
    store.set_progress(job_id, "run-1", 0.5)
    assert _changed(store, job_id, before) == {"heartbeat_at": t, "progress": 0.5, "updated_at": t}

    before = _got(store, job_id)
    t = frozen.advance()
    store.finish(job_id, "run-1", JobStatus.FAILED, job_type="noop", error="boom", attempt=1)
    ended = {"status": "failed", "finished_at": t, "callback_next_at": t, **_boom(t)}
    # A dead letter carries no `expires_at`: the TTL index never takes it.
    assert _changed(store, job_id, before) == ended


def test_only_succeeded_and_cancelled_jobs_carry_an_expiry(store: JobStore, frozen: Clock) -> None:
    ended = {}
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        job_id = _recorded(store)["_id"]
        store.claim(job_id, "run-1", "host:1", take_over=False)
        store.finish(job_id, "run-1", status, job_type="noop", attempt=1)
        ended[status] = _got(store, job_id).get("expires_at")
    t = clock.now()
    assert ended == {JobStatus.SUCCEEDED: t, JobStatus.FAILED: None, JobStatus.CANCELLED: t}
    # Retried by hand, a job is in flight again and must not expire.
    reopened = _recorded(store)["_id"]
    store.cancel(reopened)
    assert _got(store, reopened)["expires_at"] == t
    store.reopen(reopened)
    assert _got(store, reopened)["expires_at"] is None


def test_a_retry_records_the_error_and_when_to_try_again(store: JobStore, frozen: Clock) -> None:
    job_id = _recorded(store)["_id"]
    store.claim(job_id, "run-1", "host:1", take_over=False)
    before = _got(store, job_id)
    t = frozen.advance()
    retry_at = t + timedelta(seconds=30)
    assert not store.schedule_retry(job_id, "run-0", "late", 1, retry_at)
    assert store.schedule_retry(job_id, "run-1", "boom", 1, retry_at)
    assert _changed(store, job_id, before) == {
        "status": "retrying",
        "retry_at": retry_at,
        **_boom(t),
    }
    before = _got(store, job_id)
    t = frozen.advance()
    store.mark_many_queued([job_id], was="retrying")
    assert _changed(store, job_id, before) == {"status": "queued", "queued_at": t, "updated_at": t}


def test_only_the_latest_errors_are_kept(store: JobStore) -> None:
    job_id = _recorded(store, max_attempts=100)["_id"]
    for attempt in range(1, MAX_ERRORS_KEPT + 3):
        store.claim(job_id, f"run-{attempt}", "host:1", take_over=False)
        store.schedule_retry(job_id, f"run-{attempt}", f"e{attempt}", attempt, clock.now())
    store.claim(job_id, "last", "host:1", take_over=False)
    store.finish(job_id, "last", JobStatus.FAILED, job_type="noop", error="end", attempt=99)
    errors = _got(store, job_id)["errors"]
    assert [e["attempt"] for e in errors] == [*range(4, MAX_ERRORS_KEPT + 3), 99]


def test_a_cancel_finishes_a_waiting_job_and_flags_a_running_one(
    store: JobStore, frozen: Clock
) -> None:
    waiting, running = _recorded(store)["_id"], _recorded(store)["_id"]
    store.claim(running, "run-1", "host:1", take_over=False)
    before = _got(store, waiting)
    t = frozen.advance()
    store.cancel(waiting)
    assert _changed(store, waiting, before) == {
        "status": "cancelled",
        "cancel_requested": True,
        "finished_at": t,
        "expires_at": t,
        "updated_at": t,
        "callback_next_at": t,
    }
    before = _got(store, running)
    t = frozen.advance()
    store.cancel(running)
    assert _changed(store, running, before) == {"cancel_requested": True, "updated_at": t}


def test_a_reopened_job_starts_afresh_and_an_undone_one_is_as_it_was(
    store: JobStore, frozen: Clock
) -> None:
    job_id = _recorded(store)["_id"]
    store.claim(job_id, "run-1", "host:1", take_over=False)
    store.set_progress(job_id, "run-1", 0.5)
    store.finish(job_id, "run-1", JobStatus.FAILED, job_type="noop", error="boom", attempt=1)
    failed = _got(store, job_id)
    t = frozen.advance()
    assert store.reopen(job_id) == failed
    assert _changed(store, job_id, failed) == {
        "status": "pending",
        "attempts": 0,
        "error": None,
        "finished_at": None,
        "updated_at": t,
    }
    # A result from an attempt before is cleared too.
    store.jobs.update_one({"_id": job_id}, {"$set": {"result": "1", "cancel_requested": True}})
    reopened: JobDoc = {**failed, "result": "1", "cancel_requested": True, "status": "cancelled"}
    store.jobs.replace_one({"_id": job_id}, reopened)
    store.reopen(job_id)
    assert _got(store, job_id)["result"] is None
    assert _got(store, job_id)["cancel_requested"] is False

    t = frozen.advance()
    store.undo_reopen(reopened)
    assert _changed(store, job_id, reopened) == {"updated_at": t}


@pytest.fixture
def indexed(mongo: mongomock.Database) -> Iterator[JobStore]:
    store = JobStore(mongo)
    store.ensure_indexes()
    yield store


def _indexes(store: JobStore) -> dict[str, Doc]:
    return {
        name: {k: v for k, v in spec.items() if k not in ("v", "ns")}
        for name, spec in store.jobs.index_information().items()
    }


def test_the_indexes_every_query_of_the_jobs_relies_on(indexed: JobStore) -> None:
    partial = {
        f"{status}_by_{field}": {
            "key": [(field, 1)],
            "partialFilterExpression": {"status": status},
        }
        for field, status in (
            ("run_at", "scheduled"),
            ("updated_at", "pending"),
            ("retry_at", "retrying"),
            ("heartbeat_at", "running"),
            ("not_before", "throttled"),
        )
    }
    assert _indexes(indexed) == {
        "_id_": {"key": [("_id", 1)]},
        "idempotency_key_1": {"key": [("idempotency_key", 1)], "unique": True, "sparse": True},
        "status_1__id_-1": {"key": [("status", 1), ("_id", -1)]},
        "type_1__id_-1": {"key": [("type", 1), ("_id", -1)]},
        **partial,
        CALLBACKS_INDEX: {
            "key": [("callback_next_at", 1)],
            "partialFilterExpression": {"callback_pending": True},
        },
        # No partial filter: secantusd-rs scans the whole collection for a TTL pass with one.
        EXPIRY_INDEX: {"key": [("expires_at", 1)], "expireAfterSeconds": 7 * 86400},
        # Equality filters only: secantusd-rs does not use a partial index filtered by `$in`.
        BLOCKED_INDEX: {
            "key": [("depends_on", 1)],
            "partialFilterExpression": {"status": "blocked"},
        },
        SETTLE_INDEX: {
            "key": [("finished_at", 1)],
            "partialFilterExpression": {"dependants": True},
        },
    }


def test_a_changed_retention_is_applied_to_the_index_and_zero_drops_it(
    indexed: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        type(indexed.jobs.database), "command", lambda _db, *a, **k: commands.append((*a, k))
    )
    week = 7 * 86400
    indexed.ensure_retention(week)
    assert commands == []
    indexed.ensure_retention(60.5)
    index = {"name": EXPIRY_INDEX, "expireAfterSeconds": 60}
    assert commands == [("collMod", "jobs", {"index": index})]
    indexed.ensure_retention(0)
    assert EXPIRY_INDEX not in _indexes(indexed)
    indexed.ensure_retention(0)
    indexed.ensure_retention(1)
    assert _indexes(indexed)[EXPIRY_INDEX]["expireAfterSeconds"] == 1
