"""Schedules on the real stack: beat fires them, each tick a job that runs, until paused."""

import time
from typing import Any

import pytest

from tests.integration.client import Api, wait_for

pytestmark = pytest.mark.integration


def _schedule(api: Api, name: str) -> dict[str, Any]:
    reply = api.get(f"/schedules/{name}")
    assert reply.status == 200, reply.text
    return dict(reply.json)


def _fired(api: Api, name: str, runs: int) -> dict[str, Any] | None:
    schedule = _schedule(api, name)
    return schedule if schedule["runs"] >= runs else None


def test_a_schedule_fires_jobs_that_run_until_it_is_paused(api: Api) -> None:
    body = {"name": "every-second", "every_seconds": 1, "job": {"type": "noop"}}
    made = api.post("/schedules", body)
    assert made.status == 201, made.text
    try:
        fired = wait_for(lambda: _fired(api, "every-second", 2), 30, "two ticks")
        job = api.wait_status(fired["last_job_id"], "succeeded")
        assert job["schedule"]["name"] == "every-second"
        assert job["schedule"]["tick"] == fired["last_run_at"]

        paused = api.post("/schedules/every-second/pause")
        assert paused.status == 200 and paused.json["next_run_at"] is None
        runs = _schedule(api, "every-second")["runs"]
        # Several of its intervals: a paused schedule makes no job.
        time.sleep(3)
        assert _schedule(api, "every-second")["runs"] == runs
    finally:
        api.call("DELETE", "/schedules/every-second")
    assert api.get("/schedules/every-second").status == 404
