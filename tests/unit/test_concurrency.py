"""Concurrency slots with leases, rate windows, and what the lifecycle does with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pytest
from flask.testing import FlaskClient

from services.core import clock, health
from services.core.config import Settings
from services.core.jobs import dispatch, lifecycle
from services.core.jobs.concurrency import Gate, Limit, limits_of
from services.core.jobs.document import JobDoc
from services.core.jobs.lifecycle import Outcome
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.store import JobStore, new_job

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LIMITED = Settings(
    type_concurrency="noop=2",  # type: ignore[arg-type]
    type_rate="echo_rate=3",  # type: ignore[arg-type]
    key_concurrency=1,
    stale_after=30,
    throttle_delay=2,
)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def gate(mongo: mongomock.Database) -> Gate:
    return Gate(mongo, LIMITED)


def _job(type_: str = "noop", key: str | None = None) -> JobDoc:
    doc = new_job(type_, {}, 5, 3)
    if key is not None:
        doc["concurrency_key"] = key
    return doc


def test_the_limits_come_from_the_type_and_the_key() -> None:
    assert limits_of("noop", None, LIMITED) == [Limit("type", "noop", 2, None)]
    assert limits_of("sleep", "acme", LIMITED) == [Limit("key", "acme", 1, None)]
    assert limits_of("sleep", None, LIMITED) == []
    # Given as text, as the environment gives it.
    env = Settings(type_concurrency="a=4, b=1", type_rate="a=10")  # type: ignore[arg-type]
    assert dict(env.type_concurrency) == {"a": 4, "b": 1} and dict(env.type_rate) == {"a": 10}
    with pytest.raises(ValueError):
        Settings(type_concurrency="a=0")  # type: ignore[arg-type]


def test_at_most_n_slots_are_held_and_a_released_one_is_taken_again(gate: Gate) -> None:
    assert gate.admit(_job(), "r1", _at(0)).held
    assert gate.admit(_job(), "r2", _at(0)).held
    refused = gate.admit(_job(), "r3", _at(0))
    assert refused.not_before == _at(2) and not refused.held
    assert gate.running("type:noop", _at(0)) == 2
    gate.release("r1")
    assert gate.running("type:noop", _at(0)) == 1
    assert gate.admit(_job(), "r3", _at(0)).not_before is None


def test_a_dead_holders_slot_is_free_once_its_lease_runs_out(gate: Gate) -> None:
    assert gate.admit(_job(), "r1", _at(0)).held
    assert gate.admit(_job(), "r2", _at(0)).held
    # r2 keeps beating; r1's worker died and never renews.
    gate.renew("r2", _at(20))
    assert gate.admit(_job(), "r3", _at(29)).not_before is not None
    assert gate.admit(_job(), "r3", _at(31)).held
    holders = {slot["run_id"] for slot in gate.slots.find({})}
    assert holders == {"r2", "r3"}
    # The dead attempt's late release frees nothing it no longer holds.
    gate.release("r1")
    assert gate.running("type:noop", _at(31)) == 2


def test_a_key_limits_its_own_jobs_only(gate: Gate) -> None:
    assert gate.admit(_job("sleep", "acme"), "r1", _at(0)).held
    assert gate.admit(_job("sleep", "acme"), "r2", _at(0)).not_before is not None
    assert gate.admit(_job("sleep", "globex"), "r3", _at(0)).held
    assert gate.admit(_job("sleep"), "r4", _at(0)) == gate.admit(_job("sleep"), "r5", _at(0))


def test_a_refused_key_gives_back_the_type_slot_it_took(gate: Gate) -> None:
    assert gate.admit(_job("sleep", "acme"), "r1", _at(0)).held
    assert gate.admit(_job("noop", "acme"), "r2", _at(0)).not_before is not None
    assert gate.running("type:noop", _at(0)) == 0


def test_a_rate_allows_r_starts_per_second_window(gate: Gate) -> None:
    starts = [gate.admit(_job("echo_rate"), f"r{i}", _at(0.1 * i)).not_before for i in range(5)]
    assert starts == [None, None, None, _at(1), _at(1)]
    # The next second is a new window.
    assert gate.admit(_job("echo_rate"), "r9", _at(1)).not_before is None
    assert gate.rates.find_one({"_id": "type:echo_rate"})["count"] == 1  # type: ignore[index]


def test_a_raised_limit_makes_its_new_slots(mongo: mongomock.Database) -> None:
    small = Gate(mongo, LIMITED)
    assert small.admit(_job("sleep", "k"), "r1", _at(0)).held
    assert small.admit(_job("sleep", "k"), "r2", _at(0)).not_before is not None
    bigger = Gate(mongo, LIMITED.model_copy(update={"key_concurrency": 2}))
    assert bigger.admit(_job("sleep", "k"), "r2", _at(0)).held
    # And lowered again, the slot past the limit counts for nothing.
    assert small.admit(_job("sleep", "k"), "r3", _at(0)).not_before is not None


def test_the_dry_run_report_says_how_full_each_limit_is(gate: Gate) -> None:
    gate.admit(_job("sleep", "acme"), "r1", _at(0))
    assert gate.report("sleep", "acme", _at(1)) == [
        {
            "scope": "key",
            "name": "acme",
            "concurrency": 1,
            "rate_per_second": None,
            "running": 1,
            "at_limit": True,
        }
    ]
    assert gate.report("sleep", None, _at(1)) == []


# -- the lifecycle -----------------------------------------------------------------------------


def _submit(store: JobStore, type_: str = "noop", key: str | None = None) -> str:
    doc = _job(type_, key)
    store.insert(doc)
    return str(doc["_id"])


def test_a_job_over_its_limit_is_throttled_without_an_attempt_and_relayed_later(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [T0]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    gate = Gate(store.jobs.database, LIMITED)
    gate.admit(_job("sleep", "acme"), "held-elsewhere", T0)
    job_id = _submit(store, "noop", "acme")
    assert lifecycle.run(job_id, store, LIMITED, "unit:1", False, gate) is Outcome.THROTTLED
    doc = store.get(job_id)
    assert doc is not None
    assert doc["status"] == "throttled" and doc["attempts"] == 0 and doc["worker"] is None
    assert doc["not_before"] == _at(2) and "run_id" not in doc
    # Not due before its time; then the relay publishes it like a due retry.
    assert store.due_for_dispatch(5.0) == []
    now[0] = _at(2)
    publisher = StubPublisher()
    assert dispatch.relay(store, store.due_for_dispatch(5.0), publisher, LIMITED) == 1
    assert store.get(job_id)["status"] == "queued"  # type: ignore[index]
    gate.release("held-elsewhere")
    assert lifecycle.run(job_id, store, LIMITED, "unit:1", False, gate) is Outcome.SUCCEEDED
    assert store.get(job_id)["attempts"] == 1  # type: ignore[index]


def test_an_attempt_frees_its_slots_whatever_its_outcome(store: JobStore) -> None:
    gate = Gate(store.jobs.database, LIMITED)
    # A success, and a failure (a type this worker does not know).
    for type_, outcome in (("noop", Outcome.SUCCEEDED), ("unknown", Outcome.FAILED)):
        job_id = _submit(store, type_, "acme")
        assert lifecycle.run(job_id, store, LIMITED, "unit:1", False, gate) is outcome
        assert gate.running("key:acme", clock.now()) == 0
        assert gate.slots.count_documents({"run_id": {"$ne": None}}) == 0


# -- the API -----------------------------------------------------------------------------------


@pytest.fixture
def config() -> Settings:
    """The app under test runs with LIMITED's limits."""
    return LIMITED


def test_a_dry_run_reports_the_limits_a_job_would_meet(
    client: FlaskClient, mongo: mongomock.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "queue_depths", lambda: {"jobs": {"messages": 0, "consumers": 1}})
    Gate(mongo, LIMITED).admit(_job("sleep", "acme"), "r1", clock.now())
    body = {"type": "noop", "concurrency_key": "acme", "timeout_seconds": 2}
    reply = client.post("/jobs/dry-run", json=body)
    assert reply.status_code == 200
    [job] = reply.get_json()["jobs"]
    assert job["time_limit_seconds"] == {"soft": 2, "hard": 2 + LIMITED.job_time_limit_grace}
    assert [(x["scope"], x["name"], x["running"], x["at_limit"]) for x in job["limits"]] == [
        ("type", "noop", 0, False),
        ("key", "acme", 1, True),
    ]
    # A dry run takes nothing.
    assert Gate(mongo, LIMITED).running("type:noop", clock.now()) == 0


@pytest.mark.parametrize("key", ["", "a b", "x" * 201, 5])
def test_a_bad_concurrency_key_is_refused(client: FlaskClient, key: object) -> None:
    reply = client.post("/jobs", json={"type": "noop", "concurrency_key": key})
    assert reply.status_code == 400 and reply.get_json()["field"] == "concurrency_key"


def test_a_job_keeps_its_concurrency_key(client: FlaskClient) -> None:
    reply = client.post("/jobs", json={"type": "noop", "concurrency_key": "customer-42"})
    assert reply.status_code == 202 and reply.get_json()["concurrency_key"] == "customer-42"


def test_stats_count_the_jobs_waiting_on_a_limit(client: FlaskClient, store: JobStore) -> None:
    doc = _job("noop", "acme")
    doc.update({"status": "throttled", "not_before": clock.now()})
    store.insert(doc)
    stats = client.get("/stats").get_json()
    assert stats["jobs"]["by_status"]["throttled"] == 1


def test_the_relay_leaves_a_job_throttled_again_meanwhile_as_it_is(store: JobStore) -> None:
    doc = _job()
    doc.update({"status": "throttled", "not_before": clock.now() - timedelta(seconds=1)})
    store.insert(doc)
    due = store.due_for_dispatch(5.0)
    # Between the relay's read and its write, a worker took the published message and found
    # the limit still full: throttled again, to a later time. Marked queued, it would never run.
    later = clock.now() + timedelta(seconds=1)
    store.jobs.update_one({"_id": doc["_id"]}, {"$set": {"not_before": later}})
    assert dispatch.relay(store, due, StubPublisher(), LIMITED) == 1
    assert store.get(doc["_id"])["status"] == "throttled"  # type: ignore[index]
