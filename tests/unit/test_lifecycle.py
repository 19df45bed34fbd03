import threading
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel
from pymongo.errors import ServerSelectionTimeoutError

from services.core.config import Settings
from services.core.jobs import lifecycle
from services.core.jobs.context import JobCancelled, JobContext, PermanentError
from services.core.jobs.lifecycle import Outcome
from services.core.jobs.registry import job_type
from services.core.jobs.store import JobStore, new_job, to_api
from services.core.runtime import process_runtime

SETTINGS = Settings(retry_backoff_base=0.5, retry_backoff_max=2, heartbeat_interval=0.01)


class Anything(BaseModel):
    mode: str = "ok"


@job_type("unit_probe", Anything)
def probe(payload: Anything, ctx: JobContext) -> Any:
    if payload.mode == "boom":
        raise RuntimeError("boom")
    if payload.mode == "permanent":
        raise PermanentError("no use trying again")
    if payload.mode == "not-json":
        return object()
    if payload.mode == "past-the-limit":
        # What Celery's soft time limit raises in the handler.
        raise SoftTimeLimitExceeded()
    if payload.mode == "big":
        return {"text": "x" * 200}
    if payload.mode == "nan":
        return {"n": float("nan")}
    if payload.mode == "progress":
        ctx.progress(0.25)
    if payload.mode == "deadline":
        return {"time_left": ctx.time_left()}
    if payload.mode == "wait-for-cancel":
        # Asked to stop while it runs: only the heartbeat can tell it.
        process_runtime().jobs.cancel(ctx.job_id)
        if not ctx.cancel_requested.wait(timeout=2):
            return {"cancel": "never seen"}
        ctx.raise_if_cancelled()
    if payload.mode == "cancel-me":
        ctx.cancel_requested.set()
        ctx.raise_if_cancelled()
    return {"attempt": ctx.attempt}


def _job(
    store: JobStore, mode: str = "ok", max_attempts: int = 3, type_: str = "unit_probe"
) -> str:
    doc = new_job(type_, {"mode": mode}, 5, max_attempts)
    store.insert(doc)
    return doc["_id"]


def _run(store: JobStore, job_id: str, redelivered: bool = False) -> Outcome:
    return lifecycle.run(job_id, store, SETTINGS, "unit:1", redelivered)


def test_success_records_the_result(store: JobStore) -> None:
    job_id = _job(store)
    assert _run(store, job_id) is Outcome.SUCCEEDED
    job = to_api(store.get(job_id))  # type: ignore[arg-type]
    assert job["status"] == "succeeded" and job["result"] == {"attempt": 1}
    assert job["finished_at"] and job["worker"] == "unit:1"
    assert _run(store, job_id) is Outcome.SKIPPED  # a duplicate message does nothing


def test_failure_schedules_a_retry_with_backoff(store: JobStore) -> None:
    job_id = _job(store, "boom")
    assert _run(store, job_id) is Outcome.RETRYING
    doc = store.get(job_id)
    assert doc["status"] == "retrying" and doc["errors"][0]["error"] == "RuntimeError: boom"
    assert 0.2 <= (doc["retry_at"] - doc["updated_at"]).total_seconds() <= 0.6


def test_exhausted_attempts_fail(store: JobStore) -> None:
    job_id = _job(store, "boom", max_attempts=2)
    assert _run(store, job_id) is Outcome.RETRYING
    assert _run(store, job_id) is Outcome.FAILED
    doc = store.get(job_id)
    assert doc["status"] == "failed" and doc["attempts"] == 2 and len(doc["errors"]) == 2


@pytest.mark.parametrize("mode", ["permanent", "not-json", "nan"])
def test_permanent_errors_fail_at_once(store: JobStore, mode: str) -> None:
    job_id = _job(store, mode)
    assert _run(store, job_id) is Outcome.FAILED
    assert store.get(job_id)["attempts"] == 1


def test_cancel_while_running(store: JobStore) -> None:
    job_id = _job(store, "cancel-me")
    assert _run(store, job_id) is Outcome.CANCELLED
    assert store.get(job_id)["status"] == "cancelled"


def test_unknown_type_fails(store: JobStore) -> None:
    job_id = _job(store, type_="gone_away")
    assert _run(store, job_id) is Outcome.FAILED
    doc = store.get(job_id)
    assert doc is not None and "unknown job type" in (doc["error"] or "")


def test_a_job_that_keeps_killing_workers_stops(store: JobStore) -> None:
    job_id = _job(store, max_attempts=2)
    store.claim(job_id, "r1", "dead:1", take_over=False)
    store.claim(job_id, "r2", "dead:2", take_over=True)
    assert _run(store, job_id, redelivered=True) is Outcome.FAILED
    assert store.get(job_id)["error"] == "worker lost during every attempt"


def test_late_outcome_of_a_superseded_run_is_dropped(store: JobStore, monkeypatch) -> None:
    job_id = _job(store)
    real_finish = store.finish

    def taken_over_first(*args: Any, **kw: Any) -> bool:
        store.claim(job_id, "other", "w2", take_over=True)
        return real_finish(*args, **kw)

    monkeypatch.setattr(store, "finish", taken_over_first)
    assert _run(store, job_id) is Outcome.SUPERSEDED
    assert store.get(job_id)["status"] == "running"


def test_an_attempt_past_its_soft_limit_is_a_failed_attempt(store: JobStore) -> None:
    job_id = _job(store, "past-the-limit", max_attempts=2)
    assert _run(store, job_id) is Outcome.RETRYING
    doc = store.get(job_id)
    assert doc["status"] == "retrying"
    assert doc["error"] == "time limit exceeded: the attempt ran past its 300 s limit"
    assert _run(store, job_id) is Outcome.FAILED
    assert store.get(job_id)["status"] == "failed"


def test_the_handler_knows_its_time_left(store: JobStore) -> None:
    job_id = _job(store, "deadline")
    _run(store, job_id)
    # JOB_TIME_LIMIT's default, less what the claim took.
    assert 299 < to_api(store.get(job_id))["result"]["time_left"] <= 300  # type: ignore[arg-type]


def test_a_result_over_the_limit_fails_the_job_for_good(store: JobStore) -> None:
    job_id = _job(store, "big")
    small = Settings(heartbeat_interval=0.01, result_max_bytes=100)
    assert lifecycle.run(job_id, store, small, "unit:1", False) is Outcome.FAILED
    doc = store.get(job_id)
    assert doc["status"] == "failed" and doc["result"] is None and doc["attempts"] == 1
    assert doc["error"] == (
        "PermanentError: the result is 211 bytes as JSON, more than the limit of 100"
    )


def test_an_attempt_killed_at_the_hard_limit_is_recorded_by_the_worker(store: JobStore) -> None:
    job_id = _job(store, max_attempts=2)
    store.claim(job_id, "run-1", "host:41", take_over=False)
    # Another process's attempt, or none, is not touched.
    assert lifecycle.abandon(job_id, store, SETTINGS, "host:42") is Outcome.SKIPPED
    assert lifecycle.abandon(job_id, store, SETTINGS, "host:41") is Outcome.RETRYING
    doc = store.get(job_id)
    assert doc["status"] == "retrying"
    assert doc["error"] == "time limit exceeded: the attempt was stopped at its hard limit of 310 s"
    store.claim(job_id, "run-2", "host:43", take_over=False)
    assert lifecycle.abandon(job_id, store, SETTINGS, "host:43") is Outcome.FAILED
    assert store.get(job_id)["status"] == "failed"


def _claimed(store: JobStore, run_id: str = "run-1") -> str:
    job_id = _job(store)
    store.claim(job_id, run_id, "unit:1", take_over=False)
    return job_id


def test_a_heartbeat_marks_the_attempt_alive_and_leaves_it_running(store: JobStore) -> None:
    job_id = _claimed(store)
    store.jobs.update_one({"_id": job_id}, {"$set": {"heartbeat_at": None}})
    cancel = threading.Event()
    lifecycle._heartbeat(store, job_id, "run-1", cancel)
    assert not cancel.is_set()
    doc = store.get(job_id)
    assert doc is not None and doc["heartbeat_at"] is not None


def test_a_heartbeat_passes_a_cancel_request_on_to_the_handler(store: JobStore) -> None:
    job_id = _claimed(store)
    store.cancel(job_id)
    cancel = threading.Event()
    lifecycle._heartbeat(store, job_id, "run-1", cancel)
    assert cancel.is_set()


def test_a_heartbeat_stops_an_attempt_another_one_took_over(store: JobStore) -> None:
    job_id = _claimed(store)
    store.claim(job_id, "run-2", "unit:2", take_over=True)
    cancel = threading.Event()
    lifecycle._heartbeat(store, job_id, "run-1", cancel)
    assert cancel.is_set()


def test_a_heartbeat_the_database_misses_is_skipped(store: JobStore, database_down) -> None:
    job_id = _claimed(store)
    database_down("heartbeat")
    cancel = threading.Event()
    lifecycle._heartbeat(store, job_id, "run-1", cancel)
    assert not cancel.is_set()


def test_a_cancel_requested_mid_run_stops_the_handler(store: JobStore) -> None:
    job_id = _job(store, "wait-for-cancel")
    assert _run(store, job_id) is Outcome.CANCELLED
    doc = store.get(job_id)
    assert doc is not None and doc["status"] == "cancelled" and doc["result"] is None


def test_progress_the_handler_reports_is_recorded_on_its_attempt(store: JobStore) -> None:
    job_id = _job(store, "progress")
    assert _run(store, job_id) is Outcome.SUCCEEDED
    doc = store.get(job_id)
    assert doc is not None and doc["progress"] == 0.25


def test_a_redelivered_job_asked_to_cancel_stops_before_its_handler(store: JobStore) -> None:
    job_id = _job(store, "boom")
    store.claim(job_id, "run-dead", "dead:1", take_over=False)
    store.cancel(job_id)
    assert _run(store, job_id, redelivered=True) is Outcome.CANCELLED
    doc = store.get(job_id)
    assert doc is not None and doc["status"] == "cancelled" and doc["errors"] == []


def test_the_last_attempt_after_a_lost_worker_still_runs(store: JobStore) -> None:
    job_id = _job(store, max_attempts=2)
    store.claim(job_id, "run-dead", "dead:1", take_over=False)
    assert _run(store, job_id, redelivered=True) is Outcome.SUCCEEDED
    doc = store.get(job_id)
    assert doc is not None and doc["result"] == '{"attempt":2}'


def test_a_failed_attempt_records_which_attempt_failed(store: JobStore) -> None:
    job_id = _job(store, "boom", max_attempts=2)
    _run(store, job_id)
    _run(store, job_id)
    doc = store.get(job_id)
    assert doc is not None and doc["status"] == "failed"
    assert [(e["attempt"], e["error"]) for e in doc["errors"]] == [
        (1, "RuntimeError: boom"),
        (2, "RuntimeError: boom"),
    ]
    assert store.counts() == [{"status": "failed", "type": "unit_probe", "count": 1}]


def test_an_outcome_write_waits_out_a_short_database_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(lifecycle.time, "sleep", pauses.append)
    failures = iter(range(7))

    def flaky() -> str:
        if next(failures, None) is not None:
            raise ServerSelectionTimeoutError("no servers")
        return "written"

    assert lifecycle._persist(flaky) == "written"
    assert pauses == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_an_outcome_write_gives_up_after_its_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    clock_now = iter([0.0, 59.0, 61.0])
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: next(clock_now))
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _s: None)

    def down() -> None:
        raise ServerSelectionTimeoutError("no servers")

    with pytest.raises(ServerSelectionTimeoutError):
        lifecycle._persist(down)


def test_a_context_names_its_job_when_cancelled_and_never_has_negative_time_left() -> None:
    ctx = JobContext("job-7", 1, deadline=0.0)
    assert ctx.time_left() == 0.0
    ctx.cancel_requested.set()
    for stop in (ctx.raise_if_cancelled, lambda: ctx.sleep(5)):
        with pytest.raises(JobCancelled) as cancelled:
            stop()
        assert cancelled.value.args == ("job-7",)
