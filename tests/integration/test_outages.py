"""Dependencies going away: 503 with Retry-After, nothing accepted is lost, recovery unaided."""

from __future__ import annotations

import pytest

from services.localstack.stack import LocalStack
from tests.integration.client import Api, wait_for

pytestmark = pytest.mark.integration


def _healthy(api: Api) -> bool:
    return api.get("/health").status == 200


def test_database_down_gives_503_then_recovers(api: Api, stack: LocalStack) -> None:
    accepted = api.submit("sleep", {"seconds": 2})
    api.wait_status(accepted["id"], "running")
    stack.ctl("stop", "mongodb")
    try:
        reply = api.post("/jobs", {"type": "noop", "payload": {}})
        assert reply.status == 503
        assert reply.headers["Retry-After"]
        assert "database" in reply.json["error"]
        health = api.get("/health")
        assert health.status == 503
        assert health.json["data"]["status"] == "FAIL"
        assert health.json["data"]["checks"]["rabbitmq"] == "PASS"
    finally:
        stack.ctl("start", "mongodb")
    wait_for(lambda: _healthy(api), 60, "health after the database returns")
    # The job that was running through the outage still records its outcome.
    assert api.wait_status(accepted["id"], "succeeded", timeout=90)["attempts"] >= 1
    after = api.submit("noop", {})
    api.wait_status(after["id"], "succeeded")


def test_broker_down_gives_503_then_recovers(api: Api, stack: LocalStack) -> None:
    stack.ctl("stop", "rabbitmq")
    try:
        reply = api.post("/jobs", {"type": "noop", "payload": {}})
        assert reply.status == 503
        assert reply.headers["Retry-After"]
        assert "broker" in reply.json["error"]
        assert api.get("/health").json["data"]["checks"]["rabbitmq"] != "PASS"
        # Nothing half-accepted: the refused job was not left behind to run later.
        listed = api.get("/jobs?status=pending").json["items"]
        assert listed == []
    finally:
        stack.ctl("start", "rabbitmq")
    wait_for(lambda: _healthy(api), 120, "health after the broker returns")
    job = wait_for(
        lambda: (r := api.post("/jobs", {"type": "noop", "payload": {}})).status == 202 and r.json,
        60,
        "a submit to be accepted",
    )
    api.wait_status(job["id"], "succeeded", timeout=120)
