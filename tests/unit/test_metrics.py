"""`GET /metrics`: what Prometheus scrapes, read from the same records as /stats."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from services.core import health
from services.core.apikeys import Scope
from services.core.errors import BrokerUnavailable
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from tests.unit.conftest import ClientFor

DEPTHS = {"jobs": {"messages": 7, "consumers": 2}, "tickets": {"messages": 0, "consumers": 1}}


@pytest.fixture(autouse=True)
def _broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "queue_depths", lambda: DEPTHS)


def _samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.get_data(as_text=True))
        for s in family.samples
    }


def _job(store: JobStore, job_type: str, finish: JobStatus | None) -> None:
    doc = new_job(job_type, {}, priority=0, max_attempts=1)
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    if finish is not None:
        store.claim(doc["_id"], "r", "w", take_over=False)
        store.finish(doc["_id"], "r", finish, job_type=job_type, error="x", attempt=1)


def test_jobs_queues_and_maintenance_as_prometheus_reads_them(
    client: FlaskClient, store: JobStore
) -> None:
    for _ in range(2):
        _job(store, "noop", JobStatus.SUCCEEDED)
    _job(store, "sleep", JobStatus.FAILED)
    _job(store, "noop", None)
    store.jobs.database["maintenance"].insert_one(
        {"_id": "dispatch_due", "runs": 4, "total_seconds": 0.5}
    )
    samples = _samples(client)
    assert samples[("switchboard_jobs", (("status", "queued"), ("type", "noop")))] == 1
    finished = "switchboard_jobs_finished_total"
    assert samples[(finished, (("status", "succeeded"), ("type", "noop")))] == 2
    assert samples[(finished, (("status", "failed"), ("type", "sleep")))] == 1
    assert samples[("switchboard_queue_messages", (("queue", "jobs"),))] == 7
    assert samples[("switchboard_queue_consumers", (("queue", "tickets"),))] == 1
    assert samples[("switchboard_maintenance_runs_total", (("task", "dispatch_due"),))] == 4
    task = (("task", "dispatch_due"),)
    assert samples[("switchboard_maintenance_seconds_total", task)] == 0.5


def test_metrics_need_a_key_that_reads_jobs(client_for: ClientFor) -> None:
    assert client_for().get("/metrics").status_code == 401
    assert client_for(Scope.TICKETS_AGENT, agent_id="a1").get("/metrics").status_code == 403
    assert client_for(Scope.JOBS_READ).get("/metrics").status_code == 200


def test_a_broker_down_is_a_503(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise BrokerUnavailable("refused")

    monkeypatch.setattr(health, "queue_depths", down)
    reply = client.get("/metrics")
    assert reply.status_code == 503 and reply.headers["Retry-After"]
