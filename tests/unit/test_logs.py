"""Logs are JSON lines, and a job's events carry its ids as fields."""

import json
import logging
from collections.abc import Iterator

import pytest

from services.core import logs
from services.core.config import Settings
from services.core.jobs import lifecycle
from services.core.jobs.store import JobStore, new_job


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Logging as configured for a test's body (made there, to write to the stderr capsys
    captures), and put back as it was after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_a_record_is_one_json_object_with_its_fields(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO")
    logging.getLogger("unit").warning("disk %s", "full", extra={"job_id": "j1"})
    [line] = _lines(capsys.readouterr().err)
    assert line["message"] == "disk full" and line["job_id"] == "j1"
    assert (line["level"], line["logger"]) == ("WARNING", "unit")
    assert {"time", "pid"} <= set(line)


def test_a_job_s_life_is_logged_with_its_ids(
    json_logs: None, capsys: pytest.CaptureFixture[str], store: JobStore
) -> None:
    logs.configure("INFO")
    ok, bad = new_job("noop", {}, 5, 3), new_job("unit_nowhere", {}, 5, 3)
    for doc in (ok, bad):
        store.insert(doc)
        lifecycle.run(doc["_id"], store, Settings(), "host:1", redelivered=False)
    lines = [
        line
        for line in _lines(capsys.readouterr().err)
        if line["logger"] == "services.core.jobs.lifecycle"
    ]
    events = [(line["message"], line["job_id"], line["attempt"]) for line in lines]
    assert all("error" not in line for line in lines if line["message"] != "job failed")
    assert events == [
        ("job started", ok["_id"], 1),
        ("job succeeded", ok["_id"], 1),
        ("job started", bad["_id"], 1),
        ("job failed", bad["_id"], 1),
    ]


def test_celery_s_own_line_per_task_is_left_out(json_logs: None) -> None:
    logs.configure("INFO")
    for name in ("celery.app.trace", "celery.worker.strategy"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
