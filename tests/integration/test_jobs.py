"""The job pipeline end to end: Nginx → Gunicorn → MongoDB/RabbitMQ → Celery workers."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from kombu import Connection, Queue
from prometheus_client.parser import text_string_to_metric_families

from services.core import queues
from services.core.jobs import ended
from tests.integration.client import Api, wait_for
from tests.loopback import Received, answer, receive, serve
from tools.localstack.credentials import callback_secret
from tools.localstack.stack import LocalStack

pytestmark = pytest.mark.integration


def test_submit_runs_to_succeeded_through_nginx(api: Api) -> None:
    job = api.submit("word_count", {"text": "the cat and the hat"})
    assert job["status"] in ("queued", "running", "succeeded")
    done = api.wait_status(job["id"], "succeeded")
    assert done["result"]["total_words"] == 5
    assert done["result"]["counts"] == {"the": 2, "cat": 1, "and": 1, "hat": 1}
    assert done["attempts"] == 1
    assert done["started_at"] and done["finished_at"] and done["worker"]


def test_failing_attempt_is_retried_then_succeeds(api: Api) -> None:
    job = api.submit("sleep", {"seconds": 0, "fail_times": 1}, max_attempts=3)
    done = api.wait_status(job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert [e["attempt"] for e in done["errors"]] == [1]
    assert "failing on purpose" in done["errors"][0]["error"]


def _dead_letters(broker: Connection) -> list[str]:
    """Job ids of the messages waiting in the dead-letter queue."""
    found = []
    simple = broker.SimpleQueue(queues.dead_letter_queue)
    try:
        while True:
            message = simple.get(block=True, timeout=1)
            found.append(message.payload[0][0])
            message.ack()
    except simple.Empty:
        return found
    finally:
        simple.close()


def test_exhausted_attempts_fail_and_dead_letter(api: Api, broker: Connection) -> None:
    job = api.submit("sleep", {"seconds": 0, "fail_times": 9}, max_attempts=2)
    done = api.wait_status(job["id"], "failed", "succeeded")
    assert done["status"] == "failed"
    assert done["attempts"] == 2
    assert len(done["errors"]) == 2
    assert job["id"] in wait_for(lambda: _dead_letters(broker), 30, "a dead letter")


def test_failed_job_retried_by_hand_runs_again(api: Api) -> None:
    job = api.submit("sleep", {"seconds": 0, "fail_times": 1}, max_attempts=1)
    api.wait_status(job["id"], "failed")
    reply = api.post(f"/jobs/{job['id']}/retry")
    assert reply.status == 202, reply.text
    # fail_times counts attempts, which start over: the second run fails the same way.
    again = api.wait_job(job["id"], lambda j: j["status"] == "failed" and len(j["errors"]) == 2)
    assert again["attempts"] == 1
    assert api.post(f"/jobs/{job['id']}/retry").status == 202
    assert api.post("/jobs/000000000000000000000000/retry").status == 404


@pytest.fixture
def busy_workers(api: Api, stack: LocalStack) -> Iterator[list[str]]:
    """Every job worker process held by a long sleep, so new jobs wait in the queue; released
    by cancelling."""
    blockers = [
        api.submit("sleep", {"seconds": 120}, priority=9)["id"]
        for _ in range(stack.config.job_slots)
    ]
    for blocker in blockers:
        api.wait_status(blocker, "running")
    yield blockers
    for blocker in blockers:
        api.post(f"/jobs/{blocker}/cancel")
    for blocker in blockers:
        api.wait_status(blocker, "cancelled")


def test_cancel_before_start_never_runs(api: Api, busy_workers: list[str]) -> None:
    job = api.submit("noop", {})
    reply = api.post(f"/jobs/{job['id']}/cancel")
    assert reply.status == 200
    assert reply.json["status"] == "cancelled"
    for blocker in busy_workers:
        api.post(f"/jobs/{blocker}/cancel")
    # Once the workers are free and the queue has drained, the cancelled job still never ran.
    after = api.submit("noop", {})
    api.wait_status(after["id"], "succeeded")
    final = api.job(job["id"])
    assert final["status"] == "cancelled"
    assert final["attempts"] == 0 and final["started_at"] is None
    assert api.post(f"/jobs/{job['id']}/cancel").status == 409


def test_running_job_cancels_cooperatively(api: Api) -> None:
    job = api.submit("sleep", {"seconds": 120})
    api.wait_status(job["id"], "running")
    reply = api.post(f"/jobs/{job['id']}/cancel")
    assert reply.status == 200 and reply.json["cancel_requested"] is True
    done = api.wait_status(job["id"], "cancelled", "succeeded")
    assert done["status"] == "cancelled"


def test_priority_order_under_backlog(api: Api, busy_workers: list[str]) -> None:
    low = [api.submit("noop", {}, priority=1)["id"] for _ in range(20)]
    high = [api.submit("noop", {}, priority=8)["id"] for _ in range(3)]
    # One process freed, the others still held: it takes the backlog one message at a time, so
    # start order is delivery order (processes freed together would start their first at once).
    api.post(f"/jobs/{busy_workers[0]}/cancel")
    jobs = {jid: api.wait_status(jid, "succeeded") for jid in low + high}
    order = sorted(jobs, key=lambda jid: jobs[jid]["started_at"])
    # Every high-priority job started before every low-priority one queued ahead of it.
    assert set(order[: len(high)]) == set(high), [jobs[j]["priority"] for j in order]


def test_worker_killed_mid_job_still_completes_once(api: Api) -> None:
    job = api.submit("sleep", {"seconds": 3})
    running = api.wait_status(job["id"], "running")
    pid = int(running["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    done = api.wait_status(job["id"], "succeeded", "failed", timeout=90)
    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    # The recorded outcome is the second attempt's, and the killed one recorded nothing.
    assert done["result"] == {"slept": 3, "attempt": 2}
    assert done["worker"] != running["worker"]


def test_idempotency_key_returns_the_same_job(api: Api) -> None:
    body = {"type": "noop", "payload": {}}
    first = api.post("/jobs", body, headers={"Idempotency-Key": "order-42"})
    second = api.post("/jobs", body, headers={"Idempotency-Key": "order-42"})
    assert first.status == second.status == 202
    assert first.json["id"] == second.json["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = api.post(
        "/jobs",
        {"type": "noop", "payload": {}, "priority": 9},
        headers={"Idempotency-Key": "order-42"},
    )
    assert other.status == 409
    listed = api.get("/jobs?type=noop&limit=500").json["items"]
    assert sum(1 for j in listed if j["idempotency_key"] == "order-42") == 1


PAGE = b"<html><body><h1>Hello hello</h1><script>var x;</script><p>world</p></body></html>"


@pytest.fixture
def page_url() -> Iterator[str]:
    with serve(answer(PAGE, "text/html; charset=utf-8")) as port:
        yield f"http://127.0.0.1:{port}/page"


def test_word_count_by_url(api: Api, page_url: str) -> None:
    job = api.submit("word_count", {"url": page_url})
    done = api.wait_status(job["id"], "succeeded", "failed")
    assert done["result"]["counts"] == {"hello": 2, "world": 1}


def test_compat_word_count(api: Api, page_url: str) -> None:
    reply = api.post("/word-count", {"url": page_url})
    assert reply.status == 202
    body = reply.json
    job_id = body["data"]["job_id"]
    assert body == {
        "success": True,
        "message": f"Scheduled Job: {job_id}",
        "data": {"job_id": job_id, "url": page_url, "status": "IN_PROGRESS"},
    }
    done = wait_for(
        lambda: (
            (r := api.get(f"/word-count?job_id={job_id}").json)["data"]["status"] == "COMPLETE"
            and r
        ),
        60,
    )
    assert done["message"] == f"Fetched Job: {job_id}"
    assert done["data"]["word_count"] == {"hello": 2, "world": 1}
    by_body = api.call("GET", "/word-count", {"job_id": job_id})
    assert by_body.status == 200 and by_body.json["data"]["status"] == "COMPLETE"
    bad = api.post("/word-count", {"link": page_url})
    assert bad.status == 400 and bad.json["success"] is False and bad.json["message"]
    assert api.get("/word-count").status == 400


def test_compat_event(api: Api) -> None:
    event = {"user_id": 7, "priority": 0, "event_data": {"a": [1, [2]]}, "event_type_id": 3}
    reply = api.post("/api/event/v1", event)
    assert reply.status == 200, reply.text
    job = api.wait_status(reply.json["job_id"], "succeeded")
    assert job["priority"] == 9  # lower legacy numbers run first
    assert job["payload"]["event_data"] == {"a": [1, [2]]}
    bad = api.post(
        "/api/event/v1", {"user_id": "seven", "priority": 0, "event_data": 1, "event_type_id": 3}
    )
    assert bad.status == 400
    assert bad.headers["Content-Type"].startswith("text/plain")
    assert "user_id" in bad.text


def test_arbitrary_json_round_trips_exactly(api: Api) -> None:
    value = {
        "nested": [[1, 2], [[3]], []],
        "dotted.key": {"$dollar": True, "a.b.c": None},
        "unicode": "żółw 🐢 汉字",
        "big": 2**80,
        "negative_big": -(2**70),
        "float": 0.1,
        "empty": {},
    }
    job = api.submit("echo", {"value": value})
    done = api.wait_status(job["id"], "succeeded")
    assert done["payload"] == {"value": value}
    assert done["result"] == value
    raw = json.loads(api.get(f"/jobs/{job['id']}").text)
    assert raw["result"]["big"] == 2**80


def test_batch_list_and_stats(api: Api) -> None:
    reply = api.post(
        "/jobs/batch",
        {
            "jobs": [
                {"type": "noop", "payload": {}},
                {"type": "word_count", "payload": {"text": "a b"}},
                {"type": "noop", "payload": {}, "priority": 9},
            ]
        },
    )
    assert reply.status == 202
    jobs = reply.json["jobs"]
    assert [j["type"] for j in jobs] == ["noop", "word_count", "noop"]
    for job in jobs:
        api.wait_status(job["id"], "succeeded")
    first = api.get("/jobs?status=succeeded&limit=2").json
    assert len(first["items"]) == 2 and first["next"]
    second = api.get(f"/jobs?status=succeeded&limit=2&cursor={first['next']}").json
    ids = [j["id"] for j in first["items"] + second["items"]]
    assert len(set(ids)) == len(ids)
    assert all(j["status"] == "succeeded" for j in first["items"] + second["items"])
    stats = api.get("/stats").json
    assert stats["jobs"]["by_status"]["succeeded"] >= 3
    assert stats["workers_online"] >= 2
    assert "jobs" in stats["queues"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/jobs", {"type": "nope", "payload": {}}, 400, "type"),
        ("POST", "/jobs", {"type": "sleep", "payload": {"seconds": -1}}, 400, "payload.seconds"),
        ("POST", "/jobs", {"type": "noop", "priority": 10}, 400, "priority"),
        ("POST", "/jobs", [1, 2], 400, "body"),
        ("POST", "/jobs/batch", {"jobs": []}, 400, "jobs"),
        ("GET", "/jobs?status=bogus", None, 400, "status"),
        ("GET", "/jobs?limit=0", None, 400, "limit"),
        ("GET", "/jobs/nope", None, 404, None),
    ],
)
def test_bad_input_is_a_clear_4xx(
    api: Api, method: str, path: str, body: object, status: int, field: str | None
) -> None:
    reply = api.call(method, path, body)
    assert reply.status == status, reply.text
    assert reply.json["error"]
    if field:
        assert reply.json["field"] == field


def test_malformed_json_and_oversized_bodies(api: Api) -> None:
    reply = api.post("/jobs", raw=b'{"type": "noop",')
    assert reply.status == 400 and "not valid JSON" in reply.json["error"]
    known = api.post("/jobs", {"type": "nope"}).json["known"]
    assert {"word_count", "event", "sleep", "noop", "echo"} <= set(known)
    huge = json.dumps({"type": "word_count", "payload": {"text": "x " * 600_000}}).encode()
    too_large = api.post("/jobs", raw=huge)
    assert too_large.status == 413
    assert too_large.json["limit"] == 1048576


def test_openapi_and_docs(api: Api) -> None:
    spec = api.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert {"/jobs", "/jobs/{job_id}", "/jobs/batch", "/health"} <= set(spec["paths"])
    docs = api.get("/docs")
    assert docs.status == 200 and "swagger-ui" in docs.text
    assert api.get("/docs/swagger-ui-bundle.js").status == 200


def test_flower_is_served_behind_nginx(api: Api) -> None:
    workers = wait_for(
        lambda: (r := api.get("/flower/api/workers?refresh=1")).status == 200 and r.json,
        60,
        "flower to see the workers",
    )
    assert len(workers) >= 2


def test_a_delayed_job_runs_once_its_time_has_come(api: Api) -> None:
    job = api.submit("noop", {}, delay_seconds=2)
    assert job["status"] == "scheduled"
    done = api.wait_status(job["id"], "succeeded", timeout=30)
    # Never handed to a worker early: beat's relay publishes it once due. (A worker may claim the
    # job before the relay's mark-queued lands, which then leaves `queued_at` empty; and the two
    # processes read their clocks before their writes race, so `queued_at` may be a millisecond
    # after `started_at`: only the order against `run_at` is the relay's promise.)
    run_at, started_at = (datetime.fromisoformat(t) for t in (job["run_at"], done["started_at"]))
    assert run_at <= started_at
    if done["queued_at"] is not None:
        assert run_at <= datetime.fromisoformat(done["queued_at"])
    assert done["attempts"] == 1


def test_a_read_can_wait_for_the_job_to_finish(api: Api, stack: LocalStack) -> None:
    said: list[str] = []
    with Connection(stack.config.broker_url) as conn:
        # Hear what the web replicas hear: the worker's word that a watched job ended.
        heard = Queue(exchange=ended.EXCHANGE, exclusive=True, auto_delete=True)
        with conn.Consumer(heard, callbacks=[lambda body, _m: said.append(body)], accept=["json"]):
            job = api.submit("sleep", {"seconds": 1})
            reply = api.get(f"/jobs/{job['id']}?wait=20")
            assert reply.status == 200 and reply.json["status"] == "succeeded"
            deadline = time.monotonic() + 20
            while job["id"] not in said and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=1)
    assert job["id"] in said
    # ...and the replica that waited listens for it (its queue, bound to the same exchange).
    listeners = _management(stack, f"exchanges/%2F/{ended.EXCHANGE.name}/bindings/source")
    assert len(listeners) >= 1


def _management(stack: LocalStack, path: str) -> Any:
    url = f"http://127.0.0.1:{stack.config.management_port}/api/{path}"
    auth = base64.b64encode(b"guest:guest").decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def test_a_job_s_events_stream_through_nginx_as_it_runs(api: Api, stack: LocalStack) -> None:
    job = api.submit("sleep", {"seconds": 1})
    request = urllib.request.Request(
        f"{stack.config.base_url}/jobs/{job['id']}/events",
        headers={"Authorization": f"Bearer {api.key}", "Accept": "text/event-stream"},
    )
    events: list[tuple[str, dict[str, Any]]] = []
    with urllib.request.urlopen(request, timeout=60) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        event = None
        # Read as the lines arrive: Nginx passes each event on, it does not hold the stream.
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event is not None:
                events.append((event, json.loads(line.removeprefix("data: "))))
    statuses = [data["status"] for event, data in events if event == "state"]
    assert statuses[-1] == "succeeded" and "running" in statuses
    assert events[-1][0] == "finished" and events[-1][1]["result"]["slept"] == 1


def test_a_callback_tells_the_client_s_url_the_job_ended_signed(
    api: Api, stack: LocalStack
) -> None:
    received: Received = []
    with serve(receive(received)) as port:
        job = api.submit("noop", {}, callback_url=f"http://127.0.0.1:{port}/hook")
        wait_for(lambda: received, 30, "the callback")
    [(headers, body)] = received
    sent = json.loads(body)
    assert (sent["id"], sent["status"]) == (job["id"], "succeeded")
    assert headers["Switchboard-Delivery"] == job["id"]
    t, v1 = (part.split("=", 1)[1] for part in headers["Switchboard-Signature"].split(","))
    key = callback_secret(stack.config.data_dir).encode()
    assert hmac.compare_digest(hmac.new(key, f"{t}.".encode() + body, "sha256").hexdigest(), v1)
    shown = api.wait_job(job["id"], lambda j: j["callback"]["sent_at"] is not None)
    assert shown["callback"]["pending"] is False and shown["callback"]["attempts"] == 1


def test_prometheus_reads_the_cluster_through_nginx(api: Api, stack: LocalStack) -> None:
    done = api.submit("noop", {})
    api.wait_status(done["id"], "succeeded")

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        reply = api.get("/metrics")
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(reply.text)
            for s in family.samples
        }

    # The worker's counter follows its outcome within a fraction of a second (its tally thread).
    finished = ("switchboard_jobs_finished_total", (("status", "succeeded"), ("type", "noop")))

    def counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = scrape()
        return samples if samples.get(finished, 0) >= 1 else None

    samples = wait_for(counted, 30)
    consumers = ("switchboard_queue_consumers", (("queue", "jobs"),))
    assert samples[consumers] == stack.config.workers
