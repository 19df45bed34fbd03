"""Requests that wait for a job to finish: one poll per process serves them all."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask.testing import FlaskClient

from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.jobs.waiting import Waiters


def _running(store: JobStore) -> str:
    doc = new_job("noop", {}, priority=0, max_attempts=1)
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    assert store.claim(doc["_id"], "run", "w", take_over=False) is not None
    return str(doc["_id"])


def _finish_soon(store: JobStore, job_id: str, after: float = 0.1) -> threading.Timer:
    timer = threading.Timer(
        after, lambda: store.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop", result=7)
    )
    timer.start()
    return timer


class _CountingStore:
    """A JobStore whose `finished_among` calls are counted."""

    def __init__(self, store: JobStore) -> None:
        self.store, self.calls = store, 0

    def finished_among(self, job_ids: list[str]) -> list[Any]:
        self.calls += 1
        return self.store.finished_among(job_ids)


def test_a_waiter_gets_the_job_once_it_finishes(store: JobStore) -> None:
    job_id = _running(store)
    waiters = Waiters(store, interval=0.01)
    _finish_soon(store, job_id)
    doc = waiters.wait(job_id, timeout=10)
    assert doc is not None and doc["status"] == "succeeded"


def test_a_waiter_gives_up_after_its_timeout(store: JobStore) -> None:
    waiters = Waiters(store, interval=0.01)
    assert waiters.wait(_running(store), timeout=0.1) is None


def test_one_query_per_round_serves_every_waiter(store: JobStore) -> None:
    ids = [_running(store) for _ in range(5)]
    counting = _CountingStore(store)
    waiters = Waiters(counting, interval=0.05, max_waiting=5)  # type: ignore[arg-type,return-value]
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(waiters.wait, job_id, 10) for job_id in ids]
        time.sleep(0.3)
        for job_id in ids:
            _finish_soon(store, job_id, after=0)
        docs = [f.result() for f in futures]
    assert all(d is not None and d["status"] == "succeeded" for d in docs)
    # Five waiters for about 0.3 s at one round every 0.05 s: rounds, not waiters x rounds.
    assert counting.calls < 5 * 6


def test_beyond_its_bound_a_request_does_not_wait(store: JobStore) -> None:
    first, second = _running(store), _running(store)
    waiters = Waiters(store, interval=0.01, max_waiting=1)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(waiters.wait, first, 10)
        time.sleep(0.1)
        # Had it waited, it would get the job back once this finishes it.
        _finish_soon(store, second, after=0.5)
        assert waiters.wait(second, timeout=10) is None
        _finish_soon(store, first, after=0)
        assert held.result() is not None


def test_get_with_wait_answers_when_the_job_ends(client: FlaskClient, store: JobStore) -> None:
    job_id = _running(store)
    _finish_soon(store, job_id, after=0.2)
    reply = client.get(f"/jobs/{job_id}?wait=10")
    assert reply.status_code == 200 and reply.get_json()["status"] == "succeeded"
    assert reply.get_json()["result"] == 7


def test_get_with_wait_answers_with_the_job_as_it_is_after_the_wait(
    client: FlaskClient, store: JobStore
) -> None:
    job_id = _running(store)
    reply = client.get(f"/jobs/{job_id}?wait=1")
    assert reply.status_code == 200 and reply.get_json()["status"] == "running"


def test_bad_waits_are_400(client: FlaskClient, store: JobStore) -> None:
    job_id = _running(store)
    for wait in ("-1", "x", "31", "1.5"):
        reply = client.get(f"/jobs/{job_id}?wait={wait}")
        assert reply.status_code == 400 and reply.get_json()["field"] == "wait", wait
