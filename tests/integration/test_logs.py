"""Every process logs JSON lines; a job's events name it, in the log of the worker that ran it."""

import json
from typing import Any

import pytest

from tests.integration.client import Api, wait_for
from tools.localstack.stack import LocalStack

pytestmark = pytest.mark.integration


def _events(stack: LocalStack, job_id: str) -> list[dict[str, Any]] | None:
    found = []
    for log in (stack.config.data_dir / "logs").glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if job_id in line:
                found.append(json.loads(line))
    return found if len(found) >= 2 else None


def test_a_job_s_events_are_json_lines_with_its_ids(api: Api, stack: LocalStack) -> None:
    job = api.submit("noop", {})
    api.wait_status(job["id"], "succeeded")
    events = wait_for(lambda: _events(stack, job["id"]), 30, "the job's log lines")
    assert [e["message"] for e in events] == ["job started", "job succeeded"]
    assert len({e["run_id"] for e in events}) == 1
    assert events[0]["worker"] == api.job(job["id"])["worker"]
    assert all(e["logger"] == "services.core.jobs.lifecycle" for e in events)


def test_every_line_of_the_web_and_beat_logs_is_json(api: Api, stack: LocalStack) -> None:
    # Workers' logs are JSON from their logging set-up on; Celery may warn before it (running as
    # root, as the local stack may). Flower logs in its own format.
    api.wait_status(api.submit("noop", {})["id"], "succeeded")
    logs = [
        *(stack.config.data_dir / "logs").glob("web-*.log"),
        stack.config.data_dir / "logs" / "beat.log",
    ]
    assert len(logs) >= 3
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        assert lines, log.name
        for line in lines:
            assert isinstance(json.loads(line), dict), (log.name, line)
