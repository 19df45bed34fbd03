"""Job dependencies: blocked children, their release or cancellation when parents end, the sweep
that repairs a settle a dead process never made, and what the API says of all of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import BaseModel

from services.core import clock
from services.core.apikeys import Scope
from services.core.jobs import dependencies
from services.core.jobs.context import JobContext, PermanentError
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.registry import job_type
from services.core.jobs.store import Doc, JobStore
from services.core.runtime import Runtime
from services.worker import maintenance_tasks
from services.worker.tasks import run_job
from tests.unit.conftest import ClientFor


class Mode(BaseModel):
    mode: str = "ok"


@pytest.fixture(autouse=True)
def family_type() -> None:
    """`family`: returns its parents' results, or fails for good when told to."""

    @job_type("family", Mode)
    def family(payload: Mode, ctx: JobContext) -> Any:
        if payload.mode == "fail":
            raise PermanentError("told to fail")
        return {"me": ctx.job_id, "parents": ctx.parent_results()}


def _submit(client: FlaskClient, **body: Any) -> Doc:
    reply = client.post("/jobs", json={"type": "family", **body})
    assert reply.status_code == 202, reply.get_json()
    job: Doc = reply.get_json()
    return job


def _job(client: FlaskClient, job_id: str) -> Doc:
    job: Doc = client.get(f"/jobs/{job_id}").get_json()
    return job


def _published(publisher: StubPublisher) -> list[str]:
    return [job_id for job_id, _, _ in publisher.messages]


def _events(job: Doc) -> list[tuple[str, str | None]]:
    return [(e["event"], e["parent"]) for e in job["timeline"]]


# -- release --------------------------------------------------------------------------------------


def test_a_child_waits_blocked_then_runs_once_its_parent_succeeds(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    parent = _submit(client)
    child = _submit(client, depends_on=[parent["id"]])
    assert child["status"] == "blocked" and child["depends_on"] == [parent["id"]]
    assert _published(publisher) == [parent["id"]]

    assert run_job.apply(args=[parent["id"]]).get() == "succeeded"
    released = _job(client, child["id"])
    assert released["status"] == "queued"
    assert _published(publisher) == [parent["id"], child["id"]]
    blocked, release = released["timeline"]
    assert blocked == {
        "at": child["created_at"],
        "event": "blocked",
        "parent": None,
        "detail": "waiting for 1 of 1 parents",
    }
    assert release["event"] == "released" and release["parent"] == parent["id"]
    assert release["detail"] == "every parent has succeeded"
    assert child["created_at"] <= release["at"] <= released["queued_at"]

    assert run_job.apply(args=[child["id"]]).get() == "succeeded"
    result = _job(client, child["id"])["result"]
    assert result["parents"] == {parent["id"]: {"me": parent["id"], "parents": {}}}


def test_a_child_of_two_parents_waits_for_both(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    first, second, third = _submit(client), _submit(client), _submit(client)
    run_job.apply(args=[third["id"]]).get()
    parents = [first["id"], second["id"], first["id"], third["id"]]
    child = _submit(client, depends_on=parents)
    assert child["depends_on"] == [first["id"], second["id"], third["id"]]
    assert child["timeline"][0]["detail"] == "waiting for 2 of 3 parents"
    run_job.apply(args=[first["id"]]).get()
    assert _job(client, child["id"])["status"] == "blocked"
    run_job.apply(args=[second["id"]]).get()
    assert _job(client, child["id"])["status"] == "queued"
    assert _published(publisher).count(child["id"]) == 1


def test_a_parent_that_already_succeeded_counts_as_done(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    parent = _submit(client)
    run_job.apply(args=[parent["id"]]).get()
    child = _submit(client, depends_on=[parent["id"]])
    assert child["status"] == "queued" and child["id"] in _published(publisher)
    assert child["timeline"] == [
        {
            "at": child["created_at"],
            "event": "released",
            "parent": None,
            "detail": "every parent had already succeeded",
        }
    ]


def test_a_released_child_with_a_start_time_ahead_waits_for_it(client: FlaskClient) -> None:
    parent = _submit(client)
    child = _submit(client, depends_on=[parent["id"]], delay_seconds=3600)
    assert child["status"] == "blocked"
    run_job.apply(args=[parent["id"]]).get()
    assert _job(client, child["id"])["status"] == "scheduled"


def test_a_batch_names_earlier_jobs_by_index(client: FlaskClient, publisher: StubPublisher) -> None:
    reply = client.post(
        "/jobs/batch",
        json={
            "jobs": [
                {"type": "family"},
                {"type": "family", "depends_on_index": [0]},
                {"type": "family", "depends_on_index": [0, 1]},
            ]
        },
    )
    assert reply.status_code == 202, reply.get_json()
    a, b, c = reply.get_json()["jobs"]
    assert [a["status"], b["status"], c["status"]] == ["queued", "blocked", "blocked"]
    assert c["depends_on"] == [a["id"], b["id"]]
    assert _published(publisher) == [a["id"]]

    run_job.apply(args=[a["id"]]).get()
    assert [_job(client, j["id"])["status"] for j in (b, c)] == ["queued", "blocked"]
    run_job.apply(args=[b["id"]]).get()
    assert _job(client, c["id"])["status"] == "queued"
    assert _published(publisher) == [a["id"], b["id"], c["id"]]


# -- cancellation ---------------------------------------------------------------------------------


def test_a_parent_failing_for_good_cancels_its_descendants(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    parent = _submit(client, payload={"mode": "fail"})
    child = _submit(client, depends_on=[parent["id"]])
    grandchild = _submit(client, depends_on=[child["id"]])
    other = _submit(client)
    bystander = _submit(client, depends_on=[other["id"]])

    run_job.apply(args=[parent["id"]])
    for job, cause, how in ((child, parent, "failed"), (grandchild, child, "cancelled")):
        ended = _job(client, job["id"])
        assert ended["status"] == "cancelled"
        assert ended["error"] == f"parent job {cause['id']} {how}"
        assert _events(ended)[-1] == ("cancelled", cause["id"])
    assert _job(client, bystander["id"])["status"] == "blocked"
    assert child["id"] not in _published(publisher)
    stats = client.get("/stats").get_json()["jobs"]["by_type"]["family"]
    assert stats["cancelled"] == 2 and stats["blocked"] == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'switchboard_jobs{status="blocked",type="family"} 1.0' in metrics


def test_cancelling_a_parent_by_hand_cancels_its_children(client: FlaskClient) -> None:
    parent = _submit(client)
    child = _submit(client, depends_on=[parent["id"]])
    assert client.post(f"/jobs/{parent['id']}/cancel").status_code == 200
    assert _job(client, child["id"])["error"] == f"parent job {parent['id']} cancelled"


def test_a_blocked_job_can_be_cancelled_and_its_parent_then_releases_nothing(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    parent = _submit(client)
    child = _submit(client, depends_on=[parent["id"]])
    assert client.post(f"/jobs/{child['id']}/cancel").get_json()["status"] == "cancelled"
    run_job.apply(args=[parent["id"]]).get()
    assert _job(client, child["id"])["status"] == "cancelled"
    assert child["id"] not in _published(publisher)


@pytest.mark.parametrize("ending", ["fail", "cancel"])
def test_a_parent_already_failed_or_cancelled_is_refused_409(
    client: FlaskClient, store: JobStore, ending: str
) -> None:
    parent = _submit(client, payload={"mode": "fail"})
    if ending == "fail":
        run_job.apply(args=[parent["id"]])
    else:
        client.post(f"/jobs/{parent['id']}/cancel")
    before = store.jobs.count_documents({})
    reply = client.post("/jobs", json={"type": "family", "depends_on": [parent["id"]]})
    assert reply.status_code == 409
    status = {"fail": "failed", "cancel": "cancelled"}[ending]
    assert reply.get_json()["error"] == (
        f"depends_on.0: parent job {parent['id']} is {status}; retry it first, or submit without it"
    )
    assert reply.get_json()["field"] == "depends_on.0"
    assert reply.get_json()["parent"] == parent["id"]
    assert store.jobs.count_documents({}) == before


# -- what a submit refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/jobs", {"type": "family", "depends_on": ["0" * 24]}, 404, "depends_on.0"),
        ("/jobs", {"type": "family", "depends_on": ["nope"]}, 400, "depends_on.0"),
        ("/jobs", {"type": "family", "depends_on_index": [0]}, 400, "depends_on_index"),
        ("/jobs/batch", {"jobs": [{"type": "family", "depends_on_index": [0]}]}, 404,
         "jobs.0.depends_on_index.0"),
        ("/jobs/batch", {"jobs": [{"type": "family"}, {"type": "family", "depends_on_index": [2]}]},
         404, "jobs.1.depends_on_index.0"),
        ("/jobs/batch", {"jobs": [{"type": "family", "depends_on": ["1" * 24]}]}, 404,
         "jobs.0.depends_on.0"),
        ("/jobs/dry-run", {"jobs": [{"type": "family", "depends_on_index": [1]}, {"type": "noop"}]},
         404, "jobs.0.depends_on_index.0"),
        ("/schedules", {"name": "s", "every_seconds": 60,
                        "job": {"type": "family", "depends_on": ["1" * 24]}}, 400,
         "job.depends_on"),
    ],
)  # fmt: skip
def test_a_graph_that_cannot_be_is_refused_naming_the_field(
    client: FlaskClient, store: JobStore, path: str, body: Doc, status: int, field: str
) -> None:
    reply = client.post(path, json=body)
    assert reply.status_code == status, reply.get_json()
    assert reply.get_json()["field"] == field
    assert store.jobs.count_documents({}) == 0


def test_the_refusals_say_what_is_wrong(client: FlaskClient) -> None:
    unknown = client.post("/jobs", json={"type": "family", "depends_on": ["0" * 24]})
    assert unknown.get_json()["error"] == f"depends_on.0: no job {'0' * 24}"
    alone = client.post("/jobs", json={"type": "family", "depends_on_index": [0]})
    assert alone.get_json()["error"] == (
        "depends_on_index: names jobs of the same batch: only in POST /jobs/batch"
    )
    ahead = client.post("/jobs/batch", json={"jobs": [{"type": "family", "depends_on_index": [0]}]})
    assert ahead.get_json()["error"] == (
        "jobs.0.depends_on_index.0: no job at index 0 before this one (a job may depend only on "
        "earlier jobs of its batch)"
    )


def test_a_key_names_as_parents_only_jobs_it_may_read(client_for: ClientFor) -> None:
    mine, theirs = client_for(Scope.JOBS_WRITE), client_for(Scope.JOBS_WRITE)
    parent = _submit(theirs)
    refused = mine.post("/jobs", json={"type": "noop", "depends_on": [parent["id"]]})
    assert refused.status_code == 404 and refused.get_json()["field"] == "depends_on.0"
    assert _submit(theirs, depends_on=[parent["id"]])["status"] == "blocked"


# -- races and repairs ----------------------------------------------------------------------------


def test_a_parent_ending_while_its_child_is_recorded_still_releases_it(
    client: FlaskClient, runtime: Runtime, publisher: StubPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _submit(client)
    flag = dependencies.flag_parents

    def parent_ends_meanwhile(store: JobStore, docs: list[JobDoc]) -> None:
        flag(store, docs)
        # The parent ends after the child's look-up, before its record: it finds no child.
        run_job.apply(args=[parent["id"]]).get()

    monkeypatch.setattr(dependencies, "flag_parents", parent_ends_meanwhile)
    child = _submit(client, depends_on=[parent["id"]])
    assert child["status"] == "queued"
    assert _published(publisher).count(child["id"]) == 1


def _ended_unsettled(runtime: Runtime, client: FlaskClient, mode: str = "ok") -> tuple[Doc, Doc]:
    """A parent that ended in a process that died before settling its child."""
    parent = _submit(client, payload={"mode": mode})
    child = _submit(client, depends_on=[parent["id"]])
    runtime.attempts.parents_ended = None
    run_job.apply(args=[parent["id"]])
    assert _job(client, child["id"])["status"] == "blocked"
    return parent, child


def _age(store: JobStore, job_id: str, seconds: float) -> None:
    past = clock.now() - timedelta(seconds=seconds)
    store.jobs.update_one({"_id": job_id}, {"$set": {"finished_at": past}})


def test_the_sweep_releases_a_child_its_parent_never_settled(
    client: FlaskClient, runtime: Runtime, publisher: StubPublisher, store: JobStore
) -> None:
    parent, child = _ended_unsettled(runtime, client)
    # Within the grace the sweep leaves it: the parent's own process may still be settling.
    assert maintenance_tasks.sweep_dependencies.apply().get() == 0
    _age(store, parent["id"], runtime.settings.dependency_grace + 1)

    assert maintenance_tasks.sweep_dependencies.apply().get() == 1
    assert _job(client, child["id"])["status"] == "queued"
    assert _published(publisher).count(child["id"]) == 1
    # Settled, the parent leaves the sweep's index, and a second sweep finds nothing.
    assert "dependants" not in (store.jobs.find_one({"_id": parent["id"]}) or {})
    assert maintenance_tasks.sweep_dependencies.apply().get() == 0
    assert _published(publisher).count(child["id"]) == 1


def test_the_sweep_cancels_the_child_of_a_parent_that_failed_unsettled(
    client: FlaskClient, runtime: Runtime, store: JobStore
) -> None:
    parent, child = _ended_unsettled(runtime, client, mode="fail")
    grandchild = _submit(client, depends_on=[child["id"]])
    _age(store, parent["id"], runtime.settings.dependency_grace + 1)
    # Two generations in one sweep: the child, then the grandchild it held.
    assert maintenance_tasks.sweep_dependencies.apply().get() == 2
    assert _job(client, child["id"])["status"] == "cancelled"
    assert _job(client, grandchild["id"])["error"] == f"parent job {child['id']} cancelled"


def test_two_settlers_release_a_child_once(
    client: FlaskClient, runtime: Runtime, publisher: StubPublisher
) -> None:
    parent, child = _ended_unsettled(runtime, client)
    # The second settler (a submit's check) read the child while it was still blocked.
    as_read = runtime.jobs.get(child["id"])
    assert as_read is not None
    # The first released it to pending and has yet to publish it (or its publish failed, and
    # the relay will): the second, which lost the race, must publish nothing.
    first = dependencies.settle(runtime.jobs, None, runtime.settings, [parent["id"]])
    assert first.released == [child["id"]]
    dependencies.recheck(runtime.jobs, publisher, runtime.settings, [as_read])
    assert child["id"] not in _published(publisher)
    released = _job(client, child["id"])
    assert released["status"] == "pending" and len(released["timeline"]) == 2


def test_a_settle_that_fails_is_left_to_the_sweep_and_the_outcome_stands(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _submit(client)
    child = _submit(client, depends_on=[parent["id"]])

    def database_gone(*_args: object) -> None:
        from pymongo.errors import AutoReconnect

        raise AutoReconnect("gone")

    monkeypatch.setattr(dependencies, "settle", database_gone)
    assert run_job.apply(args=[parent["id"]]).get() == "succeeded"
    assert _job(client, child["id"])["status"] == "blocked"


# -- dry run and counts ---------------------------------------------------------------------------


def test_a_dry_run_answers_with_the_graph_and_records_nothing(
    client: FlaskClient, store: JobStore
) -> None:
    done = _submit(client)
    run_job.apply(args=[done["id"]]).get()
    waiting = _submit(client)
    before = store.jobs.count_documents({})
    reply = client.post(
        "/jobs/dry-run",
        json={
            "jobs": [
                {"type": "family", "depends_on": [done["id"]]},
                {"type": "family", "depends_on": [waiting["id"]]},
                {"type": "family", "depends_on_index": [0]},
            ]
        },
    )
    assert reply.status_code == 200, reply.get_json()
    jobs = reply.get_json()["jobs"]
    assert [j["status"] for j in jobs] == ["pending", "blocked", "blocked"]
    assert jobs[2]["depends_on_index"] == [0] and jobs[1]["depends_on"] == [waiting["id"]]
    assert store.jobs.count_documents({}) == before


# -- pure rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ({"a": "succeeded", "b": "succeeded"}, ("release", None)),
        # Gone: retention deleted it, and it only deletes succeeded and cancelled jobs.
        ({"a": "succeeded"}, ("release", None)),
        ({"a": "succeeded", "b": "running"}, ("wait", None)),
        ({"a": "retrying", "b": "blocked"}, ("wait", None)),
        ({"a": "queued", "b": "failed"}, ("cancel", "b")),
        ({"a": "cancelled", "b": "failed"}, ("cancel", "a")),
    ],
)
def test_a_childs_verdict_follows_its_parents(statuses: dict[str, str], verdict: tuple) -> None:
    assert dependencies.verdict_of(["a", "b"], statuses) == verdict


def test_a_released_job_keeps_its_own_start_time() -> None:
    now = clock.now()
    assert dependencies.released_to(None, now).value == "pending"
    assert dependencies.released_to(now, now).value == "pending"
    assert dependencies.released_to(now + timedelta(seconds=1), now).value == "scheduled"


def test_a_parent_deleted_by_retention_reads_as_no_result(
    client: FlaskClient, store: JobStore
) -> None:
    parent = _submit(client)
    run_job.apply(args=[parent["id"]]).get()
    gone = "f" * 24
    results = dependencies.results_of(store, [gone, parent["id"]])
    assert list(results) == [gone, parent["id"]]
    assert results == {gone: None, parent["id"]: {"me": parent["id"], "parents": {}}}


def test_a_replayed_submit_answers_with_its_first_job_whatever_the_parent_became(
    client: FlaskClient,
) -> None:
    parent = _submit(client, payload={"mode": "fail"})
    body = {"type": "family", "depends_on": [parent["id"]]}
    first = client.post("/jobs", json=body, headers={"Idempotency-Key": "child-1"})
    assert first.status_code == 202 and first.get_json()["status"] == "blocked"
    run_job.apply(args=[parent["id"]])
    again = client.post("/jobs", json=body, headers={"Idempotency-Key": "child-1"})
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["status"] == "cancelled"


def test_a_parents_end_moves_all_its_children_at_once(
    client: FlaskClient, runtime: Runtime, publisher: StubPublisher
) -> None:
    runtime.attempts.parents_ended = None
    parent = _submit(client)
    now, later = (
        _submit(client, depends_on=[parent["id"]], **d) for d in ({}, {"delay_seconds": 60})
    )
    failing = _submit(client, payload={"mode": "fail"})
    doomed = [_submit(client, depends_on=[failing["id"]]) for _ in range(2)]
    run_job.apply(args=[parent["id"]]).get()
    run_job.apply(args=[failing["id"]])

    ended = [parent["id"], failing["id"]]
    settled = dependencies.settle(runtime.jobs, publisher, runtime.settings, ended)
    assert sorted(settled.released) == sorted([now["id"], later["id"]])
    assert sorted(settled.cancelled) == sorted(j["id"] for j in doomed)
    assert client.get("/stats").get_json()["jobs"]["by_type"]["family"]["cancelled"] == 2
    for job in doomed:
        doc = runtime.jobs.get(job["id"])
        assert doc is not None and doc["finished_at"] is not None
        # Its callback, had it one, is due from its end; and a cancelled job is no longer new.
        assert doc["callback_next_at"] == doc["finished_at"] == doc["updated_at"]
