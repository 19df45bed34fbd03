"""The worker's side of recovery: dead letters stay dead, and the stale sweep hands back only the
attempt it found stale."""

from datetime import timedelta

import pytest
from celery.exceptions import Reject
from pymongo.errors import ServerSelectionTimeoutError

from services.core import clock
from services.core.jobs import lifecycle
from services.core.jobs.document import JobDoc
from services.core.jobs.store import JobStore, new_job
from services.core.runtime import Runtime
from services.worker import handback, maintenance_tasks
from services.worker.tasks import run_job


def _job(store: JobStore, type_: str = "noop", max_attempts: int = 3) -> str:
    doc = new_job(type_, {}, priority=5, max_attempts=max_attempts)
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    return doc["_id"]


def _got(store: JobStore, job_id: str) -> JobDoc:
    doc = store.get(job_id)
    assert doc is not None
    return doc


def _rejection(job_id: str) -> Reject:
    outcome = run_job.apply(args=[job_id])
    assert isinstance(outcome.result, Reject), outcome.result
    return outcome.result


def test_a_job_failed_for_good_goes_to_the_dead_letters_not_back_to_the_queue(
    store: JobStore,
) -> None:
    job_id = _job(store, type_="not_on_this_worker")
    assert _rejection(job_id).requeue is False
    assert _got(store, job_id)["status"] == "failed"


def test_a_job_is_handed_back_while_the_database_is_away(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_a: object, **_k: object) -> lifecycle.Outcome:
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(lifecycle, "run", unreachable)
    monkeypatch.setattr(handback, "PAUSE", 0.0)
    assert _rejection(_job(store)).requeue is True


@pytest.fixture
def sweep_store(runtime: Runtime) -> JobStore:
    """The store the sweep task finds: the test runtime's."""
    return runtime.jobs


def _stale(store: JobStore, run_id: str, attempts: int) -> str:
    job_id = _job(store)
    for n in range(attempts):
        store.claim(job_id, f"{run_id}-old-{n}", "dead:1", take_over=True)
    store.claim(job_id, run_id, "dead:1", take_over=True)
    old = clock.now() - timedelta(minutes=5)
    store.jobs.update_one({"_id": job_id}, {"$set": {"heartbeat_at": old}})
    return job_id


def test_the_stale_sweep_hands_a_silent_attempt_back_for_a_retry(sweep_store: JobStore) -> None:
    stale = _stale(sweep_store, "run-x", attempts=1)
    alive = _job(sweep_store)
    sweep_store.claim(alive, "run-y", "busy:1", take_over=False)

    assert maintenance_tasks.sweep_stale.apply().get() == 1
    doc = _got(sweep_store, stale)
    assert doc["status"] == "retrying" and doc["retry_at"] <= clock.now()
    assert doc["error"] == "worker lost: no heartbeat for 30s"
    assert doc["errors"][-1]["attempt"] == 2
    # Due at once: the relay republishes it on its next run.
    assert [d["_id"] for d in sweep_store.due_for_dispatch(outbox_grace=5)] == [stale]
    assert _got(sweep_store, alive)["status"] == "running"


def test_the_stale_sweep_leaves_an_attempt_that_took_over_meanwhile(
    sweep_store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _stale(sweep_store, "run-x", attempts=0)
    found = sweep_store.stale_running

    def taken_over_after_the_scan(stale_after: float) -> list:
        docs = found(stale_after)
        sweep_store.claim(job_id, "run-new", "alive:1", take_over=True)
        return docs

    monkeypatch.setattr(sweep_store, "stale_running", taken_over_after_the_scan)
    assert maintenance_tasks.sweep_stale.apply().get() == 0
    doc = _got(sweep_store, job_id)
    assert doc["status"] == "running" and doc["run_id"] == "run-new"
