"""Requests that watch jobs: one poll per process serves them all."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.core.apikeys import Scope
from services.core.jobs.ended import StubEndedSignal
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.jobs.watching import Watchers
from services.core.runtime import Runtime
from services.web.app import create_app


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
    """A JobStore whose `states_of` calls are counted."""

    def __init__(self, store: JobStore) -> None:
        self.store, self.calls = store, 0

    def states_of(self, job_ids: list[str]) -> list[Any]:
        self.calls += 1
        return self.store.states_of(job_ids)

    def watch(self, job_id: str) -> None:
        self.store.watch(job_id)


def test_a_waiter_gets_the_job_once_it_finishes(store: JobStore) -> None:
    job_id = _running(store)
    watchers = Watchers(store, interval=0.01)
    _finish_soon(store, job_id)
    assert watchers.wait(job_id, timeout=10) is True


def test_a_waiter_gives_up_after_its_timeout(store: JobStore) -> None:
    watchers = Watchers(store, interval=0.01)
    assert watchers.wait(_running(store), timeout=0.1) is False


def test_one_query_per_round_serves_every_waiter(store: JobStore) -> None:
    ids = [_running(store) for _ in range(5)]
    counting = _CountingStore(store)
    watchers = Watchers(counting, interval=0.05, max_watching=5)  # type: ignore[arg-type]
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(watchers.wait, job_id, 10) for job_id in ids]
        time.sleep(0.3)
        for job_id in ids:
            _finish_soon(store, job_id, after=0)
        assert [f.result() for f in futures] == [True] * 5
    # Five watchers for about 0.3 s at one round every 0.05 s: rounds, not watchers x rounds.
    assert counting.calls < 5 * 6


def test_beyond_its_bound_a_request_does_not_wait(store: JobStore) -> None:
    first, second = _running(store), _running(store)
    watchers = Watchers(store, interval=0.01, max_watching=1)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(watchers.wait, first, 10)
        time.sleep(0.1)
        # Had it waited, it would have seen the job finish.
        _finish_soon(store, second, after=0.5)
        assert watchers.wait(second, timeout=10) is False
        _finish_soon(store, first, after=0)
        assert held.result() is True


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


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a text/event-stream body."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_events_stream_the_job_s_changes_then_the_finished_job(
    client: FlaskClient, store: JobStore
) -> None:
    job_id = _running(store)

    def work() -> None:
        time.sleep(0.3)
        store.set_progress(job_id, "run", 0.5)
        time.sleep(0.5)
        store.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop", result=7)

    threading.Thread(target=work).start()
    reply = client.get(f"/jobs/{job_id}/events")
    assert reply.status_code == 200 and reply.mimetype == "text/event-stream"
    assert reply.headers["X-Accel-Buffering"] == "no"
    events = _events(reply.get_data(as_text=True))
    states = [(data["status"], data["progress"]) for event, data in events if event == "state"]
    assert states == [("running", None), ("running", 0.5), ("succeeded", 0.5)]
    assert events[-1][0] == "finished" and events[-1][1]["result"] == 7
    assert "payload" not in events[0][1] and events[0][1]["id"] == job_id


def test_events_of_a_finished_job_are_its_state_and_the_job(
    client: FlaskClient, store: JobStore
) -> None:
    job_id = _running(store)
    store.finish(job_id, "run", JobStatus.FAILED, job_type="noop", error="boom")
    events = _events(client.get(f"/jobs/{job_id}/events").get_data(as_text=True))
    assert [event for event, _ in events] == ["state", "finished"]
    assert events[1][1]["error"] == "boom"


def test_a_stream_ends_at_its_longest_and_says_so_to_the_browser(
    client_for: Callable[..., FlaskClient], runtime: Runtime, store: JobStore
) -> None:
    short = Runtime(
        runtime.settings.model_copy(update={"events_max_seconds": 0.5}),
        database=runtime.database,
        publisher=runtime.publisher,
    )
    client = create_app(runtime=short).test_client()
    client.environ_base.update(client_for(Scope.JOBS_READ).environ_base)
    body = client.get(f"/jobs/{_running(store)}/events").get_data(as_text=True)
    assert body.startswith("retry: 1000\n\n")
    assert [event for event, _ in _events(body)] == ["state"]


def test_events_beyond_the_watching_bound_are_503_and_unknown_jobs_404(
    client: FlaskClient, runtime: Runtime, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/jobs/6b0000000000000000000000/events").status_code == 404
    monkeypatch.setattr(runtime.watchers, "_max_watching", 0)
    reply = client.get(f"/jobs/{_running(store)}/events")
    assert reply.status_code == 503 and "watching" in reply.get_json()["error"]


def test_the_worker_says_a_job_ended_only_when_a_request_waits_for_it(store: JobStore) -> None:
    told = StubEndedSignal()
    store.watched_ended = told.send
    unwatched, watched, finished = _running(store), _running(store), _running(store)
    store.finish(finished, "run", JobStatus.SUCCEEDED, job_type="noop")
    for job_id in (watched, finished):
        store.watch(job_id)
    for job_id in (unwatched, watched):
        store.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop")
    assert told.sent == [watched]
    # A job already ended is not marked: nothing will end it again.
    assert "watched" not in (store.get(finished) or {})


def test_word_of_an_end_is_read_at_once_not_at_the_next_round(store: JobStore) -> None:
    pokes: list[Callable[[str], None]] = []
    watchers = Watchers(store, interval=3600, listen=pokes.append)
    job_id = _running(store)
    watch = watchers.open(job_id)
    assert watch is not None and len(pokes) == 1
    deadline = time.monotonic() + 10
    while watch.state is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the first round, at once
    assert watch.state is not None and not watch.finished()
    watch.wait_change(0)
    store.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop")
    pokes[0]("6b0000000000000000000000")  # a job nobody here watches: no round
    pokes[0](job_id)
    # The next round is an hour away: only the word of the end brings the state in.
    assert watch.wait_change(5) and watch.finished()
    watchers.close(watch)


def test_the_apps_runtime_marks_what_it_waits_for_and_its_worker_says_so(
    client: FlaskClient, runtime: Runtime
) -> None:
    job_id = _running(runtime.jobs)
    timer = threading.Timer(
        0.2,
        lambda: runtime.attempts.finish(job_id, "run", JobStatus.SUCCEEDED, job_type="noop"),
    )
    timer.start()
    assert client.get(f"/jobs/{job_id}?wait=10").get_json()["status"] == "succeeded"
    signal = runtime.ended_signal
    assert isinstance(signal, StubEndedSignal) and signal.sent == [job_id]
