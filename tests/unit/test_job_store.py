from datetime import timedelta

from services.core import clock
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job, to_api


def _queued(store: JobStore, **kw: object) -> str:
    doc = new_job("noop", {}, priority=5, max_attempts=3, **kw)  # type: ignore[arg-type]
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    return doc["_id"]


def test_only_one_claim_wins(store: JobStore) -> None:
    job_id = _queued(store)
    first = store.claim(job_id, "run-a", "w1", take_over=False)
    assert first is not None and first["attempts"] == 1 and first["status"] == "running"
    assert store.claim(job_id, "run-b", "w2", take_over=False) is None


def test_redelivery_takes_over_a_running_job(store: JobStore) -> None:
    job_id = _queued(store)
    store.claim(job_id, "run-a", "w1", take_over=False)
    taken = store.claim(job_id, "run-b", "w2", take_over=True)
    assert taken is not None and taken["attempts"] == 2 and taken["worker"] == "w2"
    # The first attempt's late outcome changes nothing.
    assert not store.finish(job_id, "run-a", JobStatus.SUCCEEDED, job_type="noop", result=1)
    assert store.finish(job_id, "run-b", JobStatus.SUCCEEDED, job_type="noop", result=2)
    assert to_api(store.get(job_id))["result"] == 2  # type: ignore[arg-type]


def test_outcome_is_recorded_once(store: JobStore) -> None:
    job_id = _queued(store)
    store.claim(job_id, "run-a", "w1", take_over=False)
    assert store.finish(job_id, "run-a", JobStatus.SUCCEEDED, job_type="noop", result={"n": 1})
    assert not store.finish(job_id, "run-a", JobStatus.FAILED, job_type="noop", error="late")
    assert store.claim(job_id, "run-c", "w1", take_over=True) is None
    assert store.get(job_id)["status"] == "succeeded"  # type: ignore[index]


def test_cancel_before_start_and_while_running(store: JobStore) -> None:
    waiting, running = _queued(store), _queued(store)
    assert store.cancel(waiting)["status"] == "cancelled"  # type: ignore[index]
    assert store.claim(waiting, "r", "w", take_over=True) is None
    store.claim(running, "r", "w", take_over=False)
    asked = store.cancel(running)
    assert asked is not None and asked["status"] == "running" and asked["cancel_requested"]
    store.finish(running, "r", JobStatus.CANCELLED, job_type="noop")
    assert store.cancel(running) is None


def test_a_dead_letter_is_dismissed_by_cancelling_it(store: JobStore) -> None:
    job_id, done = _queued(store), _queued(store)
    for run, doc_id, status in (
        ("r1", job_id, JobStatus.FAILED),
        ("r2", done, JobStatus.SUCCEEDED),
    ):
        store.claim(doc_id, run, "w", take_over=False)
        store.finish(doc_id, run, status, job_type="noop", error="boom", attempt=1)
    failed = store.get(job_id)
    assert failed is not None and failed.get("expires_at") is None  # a dead letter stays
    dismissed = store.cancel(job_id)
    assert dismissed is not None and dismissed["status"] == "cancelled"
    # When it failed stays, and its callback is not due again; it now expires with the retention,
    # and counts as cancelled, not failed.
    assert dismissed["finished_at"] == failed["finished_at"]
    assert dismissed["callback_next_at"] == failed["callback_next_at"]
    expires = dismissed["expires_at"]
    assert expires is not None and expires >= failed["finished_at"]  # type: ignore[operator]
    assert store.finished_counts.find_one({"_id": "noop"}) == {
        "_id": "noop",
        "failed": 0,
        "succeeded": 1,
        "cancelled": 1,
    }
    assert store.cancel(job_id) is None and store.cancel(done) is None  # handled; succeeded


def test_reopen_only_failed_or_cancelled(store: JobStore) -> None:
    job_id = _queued(store)
    assert store.reopen(job_id) is None
    store.cancel(job_id)
    before = store.reopen(job_id)
    assert before is not None and before["status"] == "cancelled"
    reopened = store.get(job_id)
    assert reopened["status"] == "pending" and reopened["attempts"] == 0  # type: ignore[index]
    assert not reopened["cancel_requested"]  # type: ignore[index]
    store.undo_reopen(before)
    assert store.get(job_id)["status"] == "cancelled"  # type: ignore[index]


def test_due_for_dispatch_finds_stranded_pending_and_due_retries(store: JobStore) -> None:
    stranded = new_job("noop", {}, 5, 3)
    stranded["updated_at"] = clock.now() - timedelta(seconds=60)
    fresh = new_job("noop", {}, 5, 3)
    store.insert_many([stranded, fresh])
    retry = _queued(store)
    store.claim(retry, "r", "w", take_over=False)
    store.schedule_retry(retry, "r", "boom", 1, clock.now() - timedelta(seconds=1))
    later = _queued(store)
    store.claim(later, "r", "w", take_over=False)
    store.schedule_retry(later, "r", "boom", 1, clock.now() + timedelta(hours=1))
    due = {d["_id"] for d in store.due_for_dispatch(outbox_grace=5)}
    assert due == {stranded["_id"], retry}


def test_stale_running_jobs_are_found(store: JobStore) -> None:
    job_id = _queued(store)
    store.claim(job_id, "r", "w", take_over=False)
    assert store.stale_running(stale_after=60) == []
    store.jobs.update_one(
        {"_id": job_id}, {"$set": {"heartbeat_at": clock.now() - timedelta(minutes=5)}}
    )
    assert [d["_id"] for d in store.stale_running(stale_after=60)] == [job_id]


def test_list_pages_newest_first(store: JobStore) -> None:
    ids = [_queued(store) for _ in range(5)]
    page, cursor = store.page(None, None, 2, None)
    assert [d["_id"] for d in page] == ids[::-1][:2] and cursor
    rest, end = store.page(None, None, 10, cursor)
    assert [d["_id"] for d in rest] == ids[::-1][2:] and end is None


def _counts(store: JobStore) -> dict[tuple[str, str], int]:
    return {(c["status"], c["type"]): c["count"] for c in store.counts()}


def test_counts_by_status_and_type(store: JobStore) -> None:
    _queued(store)
    _queued(store)
    store.insert(new_job("sleep", {"seconds": 1}, 5, 3))
    assert _counts(store) == {("queued", "noop"): 2, ("pending", "sleep"): 1}


def test_finished_jobs_are_counted_by_counters_not_by_documents(store: JobStore) -> None:
    done, failed, cancelled = _queued(store), _queued(store), _queued(store)
    for job_id, status in ((done, JobStatus.SUCCEEDED), (failed, JobStatus.FAILED)):
        store.claim(job_id, "r", "w", take_over=False)
        assert store.finish(job_id, "r", status, job_type="noop")
    store.cancel(cancelled)
    # A late outcome of an attempt that no longer owns the job counts nothing.
    assert not store.finish(done, "r", JobStatus.SUCCEEDED, job_type="noop")
    expected = {("succeeded", "noop"): 1, ("failed", "noop"): 1, ("cancelled", "noop"): 1}
    assert _counts(store) == expected
    # The counters alone answer for finished jobs: history documents are never read.
    store.jobs.delete_many({"status": {"$in": ["succeeded", "failed", "cancelled"]}})
    assert _counts(store) == expected


def test_retry_by_hand_moves_the_counters_and_undo_moves_them_back(store: JobStore) -> None:
    job_id = _queued(store)
    store.cancel(job_id)
    before = store.reopen(job_id)
    assert before is not None
    assert _counts(store) == {("pending", "noop"): 1}
    store.undo_reopen(before)
    assert _counts(store) == {("cancelled", "noop"): 1}
