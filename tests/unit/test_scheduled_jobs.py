"""Jobs with a start time ahead: `scheduled` until the relay publishes them, never early."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask.testing import FlaskClient

from services.core import clock
from services.core.config import Settings
from services.core.jobs import dispatch
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.store import JobStore


def _post(client: FlaskClient, **fields: object) -> tuple[int, dict]:
    reply = client.post("/jobs", json={"type": "noop", **fields})
    return reply.status_code, reply.get_json()


def _published(publisher: StubPublisher) -> list[str]:
    return [job_id for job_id, _priority, _limits in publisher.messages]


def _relay(store: JobStore, publisher: StubPublisher) -> int:
    return dispatch.relay(store, store.due_for_dispatch(outbox_grace=30), publisher, Settings())


def test_a_delayed_job_waits_recorded_but_unpublished(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    before = clock.now()
    status, job = _post(client, delay_seconds=60)
    assert status == 202 and job["status"] == "scheduled" and job["queued_at"] is None
    run_at = datetime.fromisoformat(job["run_at"])
    assert before + timedelta(seconds=60) <= run_at <= clock.now() + timedelta(seconds=60)
    assert _published(publisher) == []
    # Not due yet: the relay leaves it alone.
    assert _relay(store, publisher) == 0
    assert store.get(job["id"])["status"] == "scheduled"  # type: ignore[index]


def test_the_relay_publishes_a_scheduled_job_once_due(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    _, job = _post(client, run_at="2999-01-01T00:00:00+02:00")
    assert job["status"] == "scheduled" and job["run_at"].startswith("2998-12-31T22:00:00")
    store.jobs.update_one({"_id": job["id"]}, {"$set": {"run_at": clock.now()}})
    assert _relay(store, publisher) == 1
    assert _published(publisher) == [job["id"]]
    assert store.get(job["id"])["status"] == "queued"  # type: ignore[index]
    assert _relay(store, publisher) == 0


def test_a_start_time_already_past_starts_at_once(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    status, job = _post(client, run_at="2001-02-03T04:05:06Z")
    assert status == 202 and job["status"] == "queued" and job["run_at"] is None
    assert _published(publisher) == [job["id"]]
    # At the very edge of what dates can hold, the past is still only the past.
    assert _post(client, run_at="0001-01-01T00:00:00+14:00")[1]["status"] == "queued"


def test_bad_start_times_are_400_naming_the_field(client: FlaskClient) -> None:
    cases = [
        ({"run_at": "2030-01-01T00:00:00"}, "run_at", "timezone"),
        ({"run_at": 1900000000}, "run_at", "RFC 3339"),
        ({"run_at": "tomorrow"}, "run_at", "datetime"),
        ({"delay_seconds": -1}, "delay_seconds", "greater than or equal to 0"),
        ({"delay_seconds": True}, "delay_seconds", "number"),
        ({"delay_seconds": 1e12}, "delay_seconds", "less than or equal"),
        ({"delay_seconds": 5, "run_at": "2030-01-01T00:00:00Z"}, "delay_seconds", "not both"),
    ]
    for fields, field, words in cases:
        assert isinstance(fields, dict)
        status, error = _post(client, **fields)
        assert status == 400, fields
        assert error["field"] == field and words in error["error"], (fields, error)


def test_a_scheduled_job_is_cancelled_at_once(client: FlaskClient) -> None:
    _, job = _post(client, delay_seconds=600)
    reply = client.post(f"/jobs/{job['id']}/cancel")
    assert reply.status_code == 200 and reply.get_json()["status"] == "cancelled"


def test_a_batch_keeps_its_order_and_publishes_only_what_is_due(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    jobs = [{"type": "noop"}, {"type": "noop", "delay_seconds": 30}, {"type": "noop"}]
    reply = client.post("/jobs/batch", json={"jobs": jobs})
    assert reply.status_code == 202
    made = reply.get_json()["jobs"]
    assert [j["status"] for j in made] == ["queued", "scheduled", "queued"]
    assert _published(publisher) == [made[0]["id"], made[2]["id"]]


def test_a_refused_batch_leaves_none_of_its_jobs_behind(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    publisher.refuse_after = 0
    jobs = [{"type": "noop"}, {"type": "noop", "delay_seconds": 30}]
    assert client.post("/jobs/batch", json={"jobs": jobs}).status_code == 503
    assert store.jobs.count_documents({}) == 0


def test_a_scheduled_only_batch_touches_no_broker(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    publisher.refuse_after = 0  # the broker is down, and nothing needs it
    reply = client.post("/jobs/batch", json={"jobs": [{"type": "noop", "delay_seconds": 9}]})
    assert reply.status_code == 202 and store.jobs.count_documents({"status": "scheduled"}) == 1
    assert publisher.calls == []


def test_the_same_idempotency_key_and_start_time_give_the_same_job(client: FlaskClient) -> None:
    body = {"type": "noop", "delay_seconds": 60}
    first = client.post("/jobs", json=body, headers={"Idempotency-Key": "k-delay"})
    again = client.post("/jobs", json=body, headers={"Idempotency-Key": "k-delay"})
    assert first.status_code == 202 and first.get_json()["status"] == "scheduled"
    assert again.get_json()["id"] == first.get_json()["id"]
    changed = {**body, "delay_seconds": 61}
    other = client.post("/jobs", json=changed, headers={"Idempotency-Key": "k-delay"})
    assert other.status_code == 409
