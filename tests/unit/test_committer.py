"""Group commit: round trips counted, concurrent submits grouped, and every failure case."""

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import mongomock
import pytest
from flask.testing import FlaskClient
from pymongo.errors import ConnectionFailure

from services.core.config import Settings
from services.core.jobs import dispatch
from services.core.jobs.committer import Committer
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import BrokerUnavailable, Message, StubPublisher
from services.core.jobs.store import JobStore, new_job
from services.core.runtime import Runtime

# What a round trip to the database is: every collection method that talks to it.
_ROUND_TRIPS = {
    "insert_one",
    "insert_many",
    "find",
    "find_one",
    "find_one_and_update",
    "update_one",
    "update_many",
    "delete_one",
    "delete_many",
    "aggregate",
    "count_documents",
}


class _Counted:
    """A collection or database that notes each round trip it makes in `calls`."""

    def __init__(self, inner: Any, calls: list[str]) -> None:
        self._inner, self._calls = inner, calls

    def __getitem__(self, name: str) -> "_Counted":
        return _Counted(self._inner[name], self._calls)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in _ROUND_TRIPS:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def runtime(
    config: Settings, mongo: mongomock.Database, publisher: StubPublisher, calls: list[str]
) -> Runtime:
    """The app's runtime on a database that notes its round trips in `calls`."""
    return Runtime(config, database=_Counted(mongo, calls), publisher=publisher)  # type: ignore[arg-type]


@pytest.fixture
def db_calls(client: FlaskClient, calls: list[str]) -> list[str]:
    # The client's key is looked up on its first request, then remembered: not counted here.
    assert client.get("/openapi.json").status_code == 200
    calls.clear()
    return calls


@pytest.mark.parametrize("size", [1, 10, 100])
def test_a_batch_costs_one_insert_one_publish_and_one_write(
    client: FlaskClient, store: JobStore, publisher: StubPublisher, db_calls: list[str], size: int
) -> None:
    reply = client.post("/jobs/batch", json={"jobs": [{"type": "noop"}] * size})
    assert reply.status_code == 202
    assert db_calls == ["insert_many", "update_many"]
    assert [len(call) for call in publisher.calls] == [size]
    assert store.jobs.count_documents({"status": "queued"}) == size


def test_a_submit_costs_the_same_three_round_trips(
    client: FlaskClient, publisher: StubPublisher, db_calls: list[str]
) -> None:
    assert client.post("/jobs", json={"type": "noop"}).status_code == 202
    assert db_calls == ["insert_many", "update_many"] and len(publisher.calls) == 1


class _HeldPublisher(StubPublisher):
    """Holds its first call until released, so that the submits after it pile up."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    def publish(self, messages: Sequence[Message]) -> None:
        if self.holding.is_set():
            return super().publish(messages)
        self.holding.set()
        assert self.release.wait(5)
        self.calls.append(list(messages))
        self.messages.extend(messages)


def _docs(n: int) -> list[JobDoc]:
    return [new_job("noop", {}, 5, 3) for _ in range(n)]


def _pile_up(
    committer: Committer, held: _HeldPublisher, requests: list[list[JobDoc]]
) -> list[Future[list[JobDoc]]]:
    """A first submit holds the publisher; `requests` arrive in order behind it; release."""
    pool = ThreadPoolExecutor(len(requests) + 1)
    futures = [pool.submit(committer.commit, _docs(1))]
    assert held.holding.wait(5)
    for docs in requests:
        futures.append(pool.submit(committer.commit, docs))
        _until_waiting(committer, len(futures) - 1)
    held.release.set()
    pool.shutdown(wait=True)
    return futures[1:]


def _until_waiting(committer: Committer, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(committer._arrived) != n:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.fixture
def held() -> _HeldPublisher:
    return _HeldPublisher()


def test_concurrent_submits_share_one_group(
    mongo: mongomock.Database, held: _HeldPublisher
) -> None:
    calls: list[str] = []
    store = JobStore(_Counted(mongo, calls))  # type: ignore[arg-type]
    committer = Committer(store, held, Settings(submit_group_max=500))
    futures = _pile_up(committer, held, [_docs(1) for _ in range(8)])
    assert all(f.result()[0]["status"] == "queued" for f in futures)
    assert [len(call) for call in held.calls] == [1, 8]
    assert calls == ["insert_many", "update_many"] * 2


def test_a_group_stops_at_its_bound_and_a_bigger_request_goes_alone(
    store: JobStore, held: _HeldPublisher
) -> None:
    committer = Committer(store, held, Settings(submit_group_max=4))
    _pile_up(committer, held, [_docs(3), _docs(1), _docs(1), _docs(6), _docs(2)])
    assert [len(call) for call in held.calls] == [1, 4, 1, 6, 2]


def test_the_broker_failing_midway_keeps_the_confirmed_and_refuses_the_rest(
    store: JobStore, held: _HeldPublisher
) -> None:
    committer = Committer(store, held, Settings(submit_group_max=500))
    first, batch, last = _docs(1), _docs(3), _docs(1)
    held.refuse_after = 2
    confirmed, spanning, unconfirmed = _pile_up(committer, held, [first, batch, last])
    assert confirmed.result()[0]["status"] == "queued"
    for refused in (spanning, unconfirmed):
        assert isinstance(refused.exception(), BrokerUnavailable)
    # As before groups: what the broker confirmed is kept and queued, the rest is forgotten.
    assert store.get(batch[0]["_id"])["status"] == "queued"
    assert [store.get(d["_id"]) for d in [*batch[1:], *last]] == [None] * 3


def test_the_database_failing_before_the_insert_publishes_nothing(
    store: JobStore, publisher: StubPublisher, database_down: Callable[[str], None]
) -> None:
    committer = Committer(store, publisher, Settings(submit_group_max=500))
    recorded = _docs(1)
    store.insert_many(recorded)

    database_down("insert_many")
    with pytest.raises(ConnectionFailure):
        committer.commit(_docs(2))
    assert publisher.calls == []
    # An Idempotency-Key submit, recorded before, still goes through.
    assert committer.commit(recorded, recorded=True)[0]["status"] == "queued"


def test_the_database_failing_after_the_publish_accepts_the_jobs_pending(
    store: JobStore, publisher: StubPublisher, database_down: Callable[[str], None]
) -> None:
    database_down("mark_many_queued")
    docs = Committer(store, publisher, Settings(submit_group_max=500)).commit(_docs(2))
    assert [d["status"] for d in docs] == ["pending", "pending"]
    assert len(publisher.messages) == 2


def test_the_database_failing_after_a_refusal_still_accepts_the_confirmed(
    store: JobStore, held: _HeldPublisher, database_down: Callable[[str], None]
) -> None:
    database_down("discard_unpublished")
    held.refuse_after = 1
    confirmed, refused = _pile_up(
        Committer(store, held, Settings(submit_group_max=500)), held, [_docs(1), _docs(1)]
    )
    assert confirmed.result()[0]["status"] == "queued"
    assert isinstance(refused.exception(), BrokerUnavailable)


def test_the_relay_publishes_once_and_marks_by_status(
    mongo: mongomock.Database, publisher: StubPublisher
) -> None:
    calls: list[str] = []
    store = JobStore(_Counted(mongo, calls))  # type: ignore[arg-type]
    pending, retrying = _docs(3), _docs(2)
    for doc in retrying:
        doc["status"] = "retrying"
    store.insert_many([*pending, *retrying])
    calls.clear()
    assert dispatch.relay(store, [*pending, *retrying], publisher, Settings()) == 5
    assert len(publisher.calls) == 1 and sorted(calls) == ["update_many", "update_many"]
    assert {d["status"] for d in mongo["jobs"].find()} == {"queued"}


def test_the_relay_marks_only_what_the_broker_confirmed(
    store: JobStore, publisher: StubPublisher
) -> None:
    docs = _docs(3)
    store.insert_many(docs)
    publisher.refuse_after = 2
    assert dispatch.relay(store, docs, publisher, Settings()) == 2
    assert [store.get(d["_id"])["status"] for d in docs] == ["queued", "queued", "pending"]
