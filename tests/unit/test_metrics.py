"""`GET /metrics`: what Prometheus scrapes, read from the same records as /stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from services.core import clock, health
from services.core.apikeys import Scope
from services.core.config import Settings
from services.core.errors import BrokerUnavailable
from services.core.jobs import lifecycle, timings
from services.core.jobs.lifecycle import Outcome
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.runtime import Runtime
from services.core.tickets.store import new_ticket
from tests.unit.conftest import ClientFor

T0 = datetime(2026, 1, 1, tzinfo=UTC)
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
    store.timings.database["maintenance"].insert_one(
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


def test_wait_and_run_times_are_histograms_by_type(
    client: FlaskClient, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = [T0]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    for waited, ran in ((0.2, 3.0), (40.0, 0.004)):
        doc = new_job("noop", {}, priority=0, max_attempts=1)
        store.insert(doc)
        moment[0] += timedelta(seconds=waited)
        store.claim(doc["_id"], "r", "w", take_over=False)
        moment[0] += timedelta(seconds=ran)
        claimed = store.get(doc["_id"])
        assert claimed is not None
        lifecycle._record(store, claimed, "r", JobStatus.SUCCEEDED, Outcome.SUCCEEDED)
        # What the run's start observes (lifecycle.run, on a first attempt).
        store.observe("noop", timings.WAIT, waited)
    samples = _samples(client)
    noop = (("type", "noop"),)
    assert samples[("switchboard_job_wait_seconds_count", noop)] == 2
    assert samples[("switchboard_job_wait_seconds_sum", noop)] == pytest.approx(40.2)
    assert samples[("switchboard_job_wait_seconds_bucket", (("le", "0.25"), *noop))] == 1
    assert samples[("switchboard_job_wait_seconds_bucket", (("le", "60.0"), *noop))] == 2
    assert samples[("switchboard_job_run_seconds_bucket", (("le", "0.005"), *noop))] == 1
    assert samples[("switchboard_job_run_seconds_bucket", (("le", "2.5"), *noop))] == 1
    assert samples[("switchboard_job_run_seconds_bucket", (("le", "+Inf"), *noop))] == 2


def test_tickets_waiting_and_time_to_assign(client: FlaskClient, runtime: Runtime) -> None:
    tickets = runtime.tickets
    waiting = new_ticket("voice", [], 5, None)
    tickets.insert_ticket(waiting)
    assigned = new_ticket("text", [], 5, None)
    assigned.update(status="assigned", assigned_at=assigned["created_at"] + timedelta(seconds=3))
    tickets.tickets.insert_one(assigned)
    samples = _samples(client)
    assert samples[("switchboard_tickets_waiting", (("channel", "voice"),))] == 1
    assert samples[("switchboard_tickets_waiting", (("channel", "text"),))] == 0
    text = ("channel", "text")
    to_assign = "switchboard_ticket_time_to_assign_seconds"
    assert samples[(f"{to_assign}_bucket", (text, ("le", "2.5")))] == 0
    assert samples[(f"{to_assign}_bucket", (text, ("le", "5.0")))] == 1
    assert samples[(f"{to_assign}_gsum", (text,))] == 3


def test_an_attempt_observes_its_run_and_a_first_attempt_its_wait(store: JobStore) -> None:
    doc = new_job("noop", {}, priority=0, max_attempts=2)
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    assert lifecycle.run(doc["_id"], store, Settings(), "w", False) is Outcome.SUCCEEDED
    [counters] = store.timing_counters()
    assert (counters["_id"], counters["wait_count"], counters["run_count"]) == ("noop", 1, 1)
