"""Bounded work on the real prefork workers: a job past its time limit cannot hold a worker.

The test stack gives the `hang` type (tests/integration/jobtypes.py) a 2 s soft limit and
`word_count` 4 s, each with a hard limit 2 s later (TEST_ENV in conftest.py). Both workers run
one job at a time, so a job queued behind two hung ones runs only once a limit has freed a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.integration.client import Api
from tests.loopback import serve

pytestmark = pytest.mark.integration
WORKERS = 2


def _pid(job: dict) -> int:
    return int(job["worker"].rsplit(":", 1)[1])


def _hung(api: Api, **payload: object) -> list[dict]:
    """Both workers busy with a `hang` job each, at the highest priority."""
    ids = [api.submit("hang", payload, priority=9, max_attempts=1)["id"] for _ in range(WORKERS)]
    return [api.wait_status(job_id, "running") for job_id in ids]


def test_a_handler_past_its_soft_limit_fails_and_the_worker_goes_on(api: Api) -> None:
    hung = _hung(api)
    after = api.submit("noop", {}, priority=0)
    assert api.wait_status(after["id"], "succeeded")
    for job in hung:
        done = api.wait_status(job["id"], "failed", "succeeded")
        assert done["status"] == "failed" and done["attempts"] == 1
        assert done["error"] == "time limit exceeded: the attempt ran past its 2 s limit"


def test_a_handler_that_ignores_its_soft_limit_is_killed_at_the_hard_limit(api: Api) -> None:
    hung = _hung(api, ignore_soft_limit=True)
    after = api.submit("noop", {}, priority=0)
    ran = api.wait_status(after["id"], "succeeded")
    # The pool process that hung was killed; a new one took the next job.
    assert _pid(ran) not in {_pid(job) for job in hung}
    for job in hung:
        done = api.wait_status(job["id"], "failed", "succeeded")
        # Recorded at once by the worker's main process, not left `running` for the sweep.
        assert done["status"] == "failed"
        assert (
            done["error"] == "time limit exceeded: the attempt was stopped at its hard limit of 4 s"
        )
    assert api.get("/stats").json["workers_online"] == WORKERS


@pytest.fixture
def drip_server() -> Iterator[int]:
    """An HTTP server on loopback that promises a large page and sends it a word at a time."""
    stop = threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", "1000000")
        handler.end_headers()
        while not stop.is_set():
            handler.wfile.write(b"a ")
            handler.wfile.flush()
            time.sleep(0.1)

    with serve(drip) as port:
        try:
            yield port
        finally:
            stop.set()


def test_a_slow_drip_cannot_hold_a_word_count_past_its_limit(api: Api, drip_server: int) -> None:
    url = f"http://127.0.0.1:{drip_server}/"
    job = api.submit("word_count", {"url": url}, max_attempts=1)
    done = api.wait_status(job["id"], "failed", "succeeded")
    assert done["status"] == "failed"
    # Stopped by the job's 4 s, not by the fetch's own 15 s total timeout.
    assert done["error"] == "FetchFailed: the fetch did not finish within its job's time limit"
    assert api.wait_status(api.submit("noop", {})["id"], "succeeded")


def test_a_job_s_own_timeout_stops_it_and_it_is_retried(api: Api) -> None:
    # `hang` has a 2 s limit in the test stack; this job asks for 1 s, and gets two attempts.
    job = api.submit("hang", {}, priority=9, max_attempts=2, timeout_seconds=1)
    assert job["timeout_seconds"] == 1
    done = api.wait_status(job["id"], "failed", "succeeded")
    assert done["status"] == "failed" and done["attempts"] == 2
    error = "time limit exceeded: the attempt ran past its 1 s limit"
    assert [e["error"] for e in done["errors"]] == [error, error]
    after = api.submit("noop", {})
    assert api.wait_status(after["id"], "succeeded")
