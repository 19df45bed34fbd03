"""Job dependencies on the real stack: a chain runs in order and hands its results down, a
failing parent cancels its children, and the release query is served by its index."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from pymongo import MongoClient

from services.core.jobs.states import JobStatus
from tests.integration.client import Api
from tools.localstack.stack import LocalStack

pytestmark = pytest.mark.integration


def _at(job: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(job[field])


def test_a_chain_submitted_as_one_batch_runs_in_order(api: Api) -> None:
    reply = api.post(
        "/jobs/batch",
        {
            "jobs": [
                {"type": "sleep", "payload": {"seconds": 0.5}},
                {"type": "inherit", "depends_on_index": [0]},
                {"type": "inherit", "depends_on_index": [1]},
            ]
        },
    )
    assert reply.status == 202, reply.text
    first, second, third = reply.json["jobs"]
    assert [second["status"], third["status"]] == ["blocked", "blocked"]

    done = [api.wait_status(job["id"], "succeeded") for job in (first, second, third)]
    for parent, child in pairwise(done):
        assert _at(child, "started_at") >= _at(parent, "finished_at")
        assert child["result"] == {"parents": {parent["id"]: parent["result"]}}
        released = child["timeline"][-1]
        assert (released["event"], released["parent"]) == ("released", parent["id"])


def test_a_child_submitted_while_its_parent_runs_follows_it(api: Api) -> None:
    parent = api.submit("sleep", {"seconds": 1})
    api.wait_status(parent["id"], "running")
    child = api.submit("inherit", {}, depends_on=[parent["id"]])
    assert child["status"] == "blocked"
    done = api.wait_status(child["id"], "succeeded", timeout=20)
    assert _at(done, "started_at") >= _at(api.job(parent["id"]), "finished_at")


def test_a_parent_failing_for_good_cancels_its_children(api: Api) -> None:
    # One batch: the parent fails at once, so its children must be recorded with it.
    reply = api.post(
        "/jobs/batch",
        {
            "jobs": [
                {"type": "sleep", "payload": {"seconds": 0, "fail_times": 1}, "max_attempts": 1},
                {"type": "inherit", "depends_on_index": [0]},
                {"type": "inherit", "depends_on_index": [1]},
            ]
        },
    )
    assert reply.status == 202, reply.text
    parent, child, grandchild = reply.json["jobs"]

    assert api.wait_status(parent["id"], "failed", "succeeded")["status"] == "failed"
    ended = api.wait_status(grandchild["id"], "cancelled", "succeeded")
    assert ended["status"] == "cancelled"
    assert ended["error"] == f"parent job {child['id']} cancelled"
    cancelled = api.job(child["id"])
    assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
    assert cancelled["error"] == f"parent job {parent['id']} failed"
    assert [(e["event"], e["parent"]) for e in cancelled["timeline"]] == [
        ("blocked", None),
        ("cancelled", parent["id"]),
    ]
    # A child of a parent already failed is refused: it could never run.
    refused = api.post("/jobs", {"type": "inherit", "depends_on": [parent["id"]]})
    assert refused.status == 409 and refused.json["parent"] == parent["id"]


def test_the_release_and_sweep_queries_read_their_partial_indexes(
    api: Api, stack: LocalStack
) -> None:
    parent = api.submit("sleep", {"seconds": 1})
    api.submit("inherit", {}, depends_on=[parent["id"]])
    client: MongoClient[dict[str, Any]] = MongoClient(stack.config.mongo_url, tz_aware=True)
    try:
        jobs = client[stack.config.mongo_db]["jobs"]
        query = {"depends_on": {"$in": [parent["id"]]}, "status": JobStatus.BLOCKED.value}
        release = jobs.find(query).explain()["queryPlanner"]["winningPlan"]
        flagged = {"dependants": True, "finished_at": {"$lt": datetime.now(UTC)}}
        sweep = jobs.find(flagged).explain()["queryPlanner"]["winningPlan"]
    finally:
        client.close()
    assert "blocked_by_parent" in str(release), release
    assert "dependants_by_finished_at" in str(sweep), sweep
