"""The HTTP contract, with mongomock behind it and Celery's in-memory broker."""

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from services.core import health
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.store import JobStore
from services.core.runtime import Runtime
from services.worker.tasks import run_job

JSON = "application/json"


def _submit(client: FlaskClient, **body: object) -> dict:
    reply = client.post("/jobs", json={"type": "noop", "payload": {}, **body})
    assert reply.status_code == 202, reply.get_json()
    return reply.get_json()


def _event(data: object) -> dict:
    return {"user_id": 1, "event_type_id": 2, "event_data": data}


def test_submit_is_accepted_queued_and_located(client: FlaskClient) -> None:
    reply = client.post("/jobs", json={"type": "word_count", "payload": {"text": "a b a"}})
    assert reply.status_code == 202
    job = reply.get_json()
    assert reply.headers["Location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["priority"] == 5 and job["max_attempts"] == 3
    assert client.get(f"/jobs/{job['id']}").get_json()["status"] == "queued"


def test_eager_run_completes_the_job(client: FlaskClient, store: JobStore) -> None:
    job = _submit(client, type="word_count", payload={"text": "a b a"})
    assert run_job.apply(args=[job["id"]]).get() == "succeeded"
    done = client.get(f"/jobs/{job['id']}").get_json()
    assert done["status"] == "succeeded" and done["result"]["counts"] == {"a": 2, "b": 1}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"type": "nope"}, "type", "unknown job type 'nope'; known: event, noop, sleep"),
        ({"type": "sleep", "payload": {}}, "payload.seconds", "required"),
        ({"type": "sleep", "payload": {"seconds": "x"}}, "payload.seconds", "number"),
        ({"type": "noop", "priority": -1}, "priority", "greater than or equal to 0"),
        ({"type": "noop", "max_attempts": 0}, "max_attempts", "greater than or equal to 1"),
        ({"type": "noop", "colour": "red"}, "colour", "Extra inputs"),
        ({"payload": {}}, "type", "required"),
    ],
)
def test_invalid_jobs_name_the_field(
    client: FlaskClient, body: dict, field: str, words: str
) -> None:
    reply = client.post("/jobs", json=body)
    assert reply.status_code == 400
    error = reply.get_json()
    assert error["field"] == field and words in error["error"]


# Nested too deep, yet under MAX_BODY_BYTES (4096 here): a body over it is the 413 below.
@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"type": NaN}', b"[" * 4000])
def test_malformed_bodies_are_400(client: FlaskClient, raw: bytes) -> None:
    reply = client.post("/jobs", data=raw, content_type="application/json")
    assert reply.status_code == 400
    assert reply.get_json()["error"]


def test_body_over_the_limit_is_413(client: FlaskClient) -> None:
    body = json.dumps({"type": "word_count", "payload": {"text": "x" * 5000}})
    reply = client.post("/jobs", data=body, content_type="application/json")
    assert reply.status_code == 413
    assert reply.get_json()["limit"] == 4096


def test_idempotency_key(client: FlaskClient) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = client.post("/jobs", json={"type": "noop"}, headers=headers)
    again = client.post("/jobs", json={"type": "noop"}, headers=headers)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (
        client.post(
            "/jobs", json={"type": "sleep", "payload": {"seconds": 1}}, headers=headers
        ).status_code
        == 409
    )
    assert (
        client.post("/jobs", json={"type": "noop"}, headers={"Idempotency-Key": ""}).status_code
        == 400
    )


def test_batch_keeps_order_and_validates_each(client: FlaskClient) -> None:
    reply = client.post(
        "/jobs/batch",
        json={"jobs": [{"type": "noop"}, {"type": "sleep", "payload": {"seconds": 0}}]},
    )
    assert reply.status_code == 202
    assert [j["type"] for j in reply.get_json()["jobs"]] == ["noop", "sleep"]
    bad = client.post("/jobs/batch", json={"jobs": [{"type": "noop"}, {"type": "nope"}]})
    assert bad.status_code == 400 and bad.get_json()["field"] == "jobs.1.type"


def test_list_filters_and_pages(client: FlaskClient) -> None:
    ids = [_submit(client)["id"] for _ in range(3)]
    _submit(client, type="sleep", payload={"seconds": 0})
    page = client.get("/jobs?type=noop&limit=2").get_json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    rest = client.get(f"/jobs?type=noop&limit=2&cursor={page['next']}").get_json()
    assert [j["id"] for j in rest["items"]] == ids[:1] and rest["next"] is None
    assert client.get("/jobs?status=queued").get_json()["items"]
    assert client.get("/jobs?status=nope").status_code == 400
    assert client.get("/jobs?limit=abc").status_code == 400


def test_cancel_and_retry_transitions(client: FlaskClient) -> None:
    job = _submit(client)
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 409
    assert client.post(f"/jobs/{job['id']}/cancel").get_json()["status"] == "cancelled"
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 409
    retried = client.post(f"/jobs/{job['id']}/retry")
    assert retried.status_code == 202 and retried.get_json()["status"] == "queued"
    assert client.post("/jobs/missing/cancel").status_code == 404
    assert client.get("/jobs/missing").status_code == 404


def test_json_round_trips_exactly(client: FlaskClient) -> None:
    data = {"n": [[1, [2]]], "a.b": {"$x": 2**90}, "u": "🐢", "f": 1.5}
    job = _submit(
        client, type="event", payload={"user_id": 1, "event_type_id": 2, "event_data": data}
    )
    stored = client.get(f"/jobs/{job['id']}").get_json()
    assert stored["payload"]["event_data"] == data


def test_broker_down_is_503_and_nothing_is_left_behind(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    publisher.refuse_after = 0
    reply = client.post("/jobs", json={"type": "noop"})
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    assert store.jobs.count_documents({}) == 0


def test_retry_refused_by_the_broker_leaves_the_job_as_it_was(
    client: FlaskClient, store: JobStore, publisher: StubPublisher
) -> None:
    job = _submit(client)
    client.post(f"/jobs/{job['id']}/cancel")
    publisher.refuse_after = 0
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 503
    assert store.get(job["id"])["status"] == "cancelled"


def test_database_lost_after_the_publish_still_accepts_the_job(
    client: FlaskClient, store: JobStore, database_down: Callable[[str], None]
) -> None:
    database_down("mark_many_queued")
    reply = client.post("/jobs", json={"type": "noop"})
    assert reply.status_code == 202
    job = reply.get_json()
    # The message is on the broker; the job runs from `pending` like any queued one.
    assert job["status"] == "pending"
    assert run_job.apply(args=[job["id"]]).get() == "succeeded"


def test_database_down_is_503(
    client: FlaskClient, store: JobStore, database_down: Callable[[str], None]
) -> None:
    database_down("get")
    reply = client.get("/jobs/" + "0" * 24)
    assert reply.status_code == 503 and "database" in reply.get_json()["error"]


def test_compat_word_count_shapes(client: FlaskClient) -> None:
    reply = client.post("/word-count", json={"url": "http://example.test/page"})
    assert reply.status_code == 202
    body = reply.get_json()
    job_id = body["data"]["job_id"]
    assert body["message"] == f"Scheduled Job: {job_id}" and body["data"]["status"] == "IN_PROGRESS"
    fetched = client.get(f"/word-count?job_id={job_id}").get_json()
    assert fetched == {
        "success": True,
        "message": f"Fetched Job: {job_id}",
        "data": {"job_id": job_id, "status": "IN_PROGRESS"},
    }
    assert client.get("/word-count", json={"job_id": job_id}).status_code == 200
    for bad in ({}, {"url": 5}, {"url": "not a url"}):
        reply = client.post("/word-count", json=bad)
        assert reply.status_code == 400 and reply.get_json()["success"] is False
    assert client.get("/word-count").get_json()["success"] is False
    assert client.get("/word-count?job_id=nope").status_code == 404
    for method in ("POST", "GET"):
        not_json = client.open("/word-count", method=method, data=b"{", content_type="text/plain")
        assert not_json.status_code == 415
        assert set(not_json.get_json()) == {"success", "message"}
        broken = client.open("/word-count", method=method, data=b"{", content_type=JSON)
        assert broken.status_code == 400
        assert set(broken.get_json()) == {"success", "message"}


def test_compat_event(client: FlaskClient, store: JobStore) -> None:
    ok = client.post(
        "/api/event/v1",
        json={"user_id": 1, "priority": 2, "event_data": [1, [2]], "event_type_id": 4},
    )
    assert ok.status_code == 200
    assert store.get(ok.get_json()["job_id"])["priority"] == 7
    for bad in (
        {"user_id": 1},
        {"user_id": True, "priority": 1, "event_type_id": 1, "event_data": 1},
    ):
        reply = client.post("/api/event/v1", json=bad)
        assert reply.status_code == 400 and reply.mimetype == "text/plain"


def test_openapi_lists_the_job_endpoints(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert {
        "/jobs",
        "/jobs/batch",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/jobs/{job_id}/retry",
        "/stats",
        "/health",
        "/word-count",
        "/api/event/v1",
    } <= set(spec["paths"])
    assert "JobRequest" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_a_page_stops_before_its_byte_budget_and_says_next(
    client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [_submit(client, type="event", payload=_event("x" * 3000))["id"] for _ in range(5)]
    monkeypatch.setattr(runtime.jobs, "page_max_bytes", 7000)
    # Through the history walk (no status) and through the status index (queued).
    for query in ("limit=50", "limit=50&status=queued"):
        seen: list[str] = []
        pages = 0
        url: str | None = f"/jobs?{query}"
        while url is not None:
            page = client.get(url).get_json()
            assert page["items"], "a page is never empty"
            seen += [job["id"] for job in page["items"]]
            pages += 1
            url = f"/jobs?{query}&cursor={page['next']}" if page["next"] else None
        assert seen == ids[::-1] and pages == 3


def test_a_reused_idempotency_key_with_another_request_names_the_key(
    client: FlaskClient,
) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert client.post("/jobs", json={"type": "noop"}, headers=headers).status_code == 202
    reply = client.post("/jobs", json={"type": "noop", "priority": 1}, headers=headers)
    assert reply.status_code == 409
    assert reply.get_json() == {
        "error": "this Idempotency-Key was already used for a different request",
        "key": "k-2",
    }


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "k-3"}])
def test_a_first_submission_is_not_a_replay(client: FlaskClient, headers: dict) -> None:
    reply = client.post("/jobs", json={"type": "noop"}, headers=headers)
    assert reply.status_code == 202 and "Idempotent-Replayed" not in reply.headers


def test_jobs_of_a_batch_are_recorded_with_their_submitter_and_attempts(
    client: FlaskClient, store: JobStore
) -> None:
    reply = client.post("/jobs/batch", json={"jobs": [{"type": "noop"}, {"type": "noop"}]})
    for job in reply.get_json()["jobs"]:
        doc = store.get(job["id"])
        assert doc is not None and doc["submitted_by"] is not None and doc["max_attempts"] == 3


def test_a_dry_run_forecasts_and_records_nothing(
    client: FlaskClient, store: JobStore, publisher: StubPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "queue_depths", lambda: {"jobs": {"messages": 12, "consumers": 3}})
    one = client.post("/jobs/dry-run", json={"type": "sleep", "payload": {"seconds": 1}})
    assert one.status_code == 200
    [job] = one.get_json()["jobs"]
    assert (job["status"], job["starts_at"], job["max_attempts"]) == ("pending", None, 3)
    assert job["time_limit_seconds"]["hard"] > job["time_limit_seconds"]["soft"] > 0
    assert one.get_json()["queue"] == {"name": "jobs", "waiting": 12, "workers": 3}
    batch = {"jobs": [{"type": "noop", "delay_seconds": 60}, {"type": "noop", "priority": 9}]}
    later, now = client.post("/jobs/dry-run", json=batch).get_json()["jobs"]
    assert later["status"] == "scheduled" and later["starts_at"] is not None
    assert now["priority"] == 9
    bad = client.post("/jobs/dry-run", json={"jobs": [{"type": "noop"}, {"type": "nope"}]})
    assert bad.status_code == 400 and bad.get_json()["field"] == "jobs.1.type"
    assert store.jobs.count_documents({}) == 0 and publisher.calls == []
