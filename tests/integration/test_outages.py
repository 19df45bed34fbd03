"""Dependencies going away: 503 with Retry-After, nothing accepted is lost, recovery unaided."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.integration.client import Api, wait_for
from tools.localstack.stack import LocalStack

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


def test_a_killed_process_is_restarted_and_the_rest_keep_serving(
    api: Api, stack: LocalStack
) -> None:
    def pid_of(name: str) -> int:
        return int(stack.ctl("pid", name).strip() or 0)

    before = pid_of("web-1")
    orphans = psutil.Process(before).children()
    os.kill(before, signal.SIGKILL)
    # Nginx routes around the dead replica while supervisord brings it back.
    for _ in range(10):
        assert api.get("/health").status == 200
    # Gunicorn's workers outlive a master killed with -9 until they notice, holding its port;
    # the new master can bind it only once they are gone.
    psutil.wait_procs(orphans, timeout=60)
    web_1 = Api(f"http://127.0.0.1:{stack.config.web_ports[0]}", stack.api_key())

    def serving() -> bool:
        try:
            return web_1.get("/health").status == 200
        except OSError:  # refused while it binds
            return False

    wait_for(
        lambda: pid_of("web-1") not in (0, before) and serving(),
        90,
        "web-1 to be restarted and serving",
    )
    job = api.submit("noop", {})
    api.wait_status(job["id"], "succeeded")
