"""Finished-job counters written by a worker's tally thread, off the job's path."""

from __future__ import annotations

from typing import Any

import mongomock
from pymongo.errors import AutoReconnect

from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.jobs.tally import Tally


def _counters(db: mongomock.Database) -> dict[str, dict[str, int]]:
    return {d.pop("_id"): d for d in db["job_counts"].find()}


def test_increments_are_summed_per_type_and_written(mongo: mongomock.Database) -> None:
    tally = Tally(mongo["job_counts"], linger=0.05)
    for _ in range(3):
        tally.add("noop", "succeeded")
    tally.add("noop", "failed")
    tally.add("sleep", "cancelled", 2)
    assert tally.flush()
    assert _counters(mongo) == {
        "noop": {"succeeded": 3, "failed": 1},
        "sleep": {"cancelled": 2},
    }


class _Flaky:
    """A collection whose next `failures` writes fail as when MongoDB is away."""

    def __init__(self, collection: Any, failures: int) -> None:
        self.collection, self.failures = collection, failures
        self.name = collection.name

    def update_one(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("away")
        return self.collection.update_one(*args, **kwargs)


def test_counts_a_failed_write_held_are_written_later_once(
    mongo: mongomock.Database, monkeypatch: Any
) -> None:
    monkeypatch.setattr("services.core.jobs.tally.RETRY_PAUSE", 0.01)
    flaky = _Flaky(mongo["job_counts"], failures=2)
    tally = Tally(flaky, linger=0.01)  # type: ignore[arg-type]
    tally.add("noop", "succeeded")
    tally.add("event", "failed")
    tally.add("noop", "succeeded")
    assert tally.flush()
    assert flaky.failures == 0
    assert _counters(mongo) == {"noop": {"succeeded": 2}, "event": {"failed": 1}}


def test_a_tallying_store_counts_its_outcomes_in_the_background(
    mongo: mongomock.Database,
) -> None:
    store = JobStore(mongo, tally_outcomes=True)
    ids = []
    for _ in range(4):
        doc = new_job("noop", {}, priority=0, max_attempts=1)
        store.insert(doc)
        store.mark_queued(doc["_id"], was="pending")
        assert store.claim(doc["_id"], "run", "w", take_over=False) is not None
        ids.append(doc["_id"])
    for job_id in ids[:3]:
        assert store.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop")
    # A finish that changes nothing counts nothing.
    assert not store.finish(ids[0], "run", JobStatus.SUCCEEDED, job_type="noop")
    store.finish(ids[3], "run", JobStatus.FAILED, job_type="noop", error="x", attempt=1)
    store.flush_tally()
    assert _counters(mongo) == {"noop": {"succeeded": 3, "failed": 1}}
