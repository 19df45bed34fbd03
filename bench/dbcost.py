"""The cost of each hot and periodic operation as history grows: the curve behind the figures.

History is seeded into the stack's own database in steps (tools/localstack/history.py), and at
each size every operation is timed through the code that runs it in production, not a
hand-written query:

- submit: `POST /jobs` through Nginx (one request at a time);
- claim and finish: `JobStore.claim` / `JobStore.finish` on a job of the run's own, by `_id`;
- the relay's query (`JobStore.due_for_dispatch`, every tick of `dispatch_due`) and the stale
  sweep's (`JobStore.stale_running`, every tick of `sweep_stale`);
- `GET /stats`, and a list page, `GET /jobs?status=failed&limit=50`, both through Nginx.

Flat lines mean the cost follows the work in flight; lines that climb with the size mean the
database reads history to answer. Each operation is repeated until TRIES runs or BUDGET seconds,
whichever comes first, and the median is kept; one that takes longer than OP_TIMEOUT (or fails)
is recorded as None, so a full scan of a million documents costs the run seconds, not hours.
Nothing is running meanwhile but the stack's own maintenance.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from pymongo.errors import PyMongoError

from services.core.config import settings
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from tools.localstack import backends
from tools.localstack.history import seed_history
from tools.localstack.http import headers
from tools.localstack.stack import LocalStack

TRIES = 15
BUDGET = 5.0
# An operation slower than this is recorded as such (None) rather than waited for.
OP_TIMEOUT = 30.0
# What the seeded history holds beside each N jobs: agents and finished tickets, in the
# proportions of issue 12's target (1,000,000 jobs, 10,000 agents, 100,000 tickets).
AGENTS_PER_JOB = 0.01
TICKETS_PER_JOB = 0.1
OPERATIONS = {
    "submit_ms": "POST /jobs",
    "claim_ms": "claim by _id",
    "finish_ms": "finish by _id",
    "relay_query_ms": "relay: due_for_dispatch",
    "stale_query_ms": "sweep: stale_running",
    "stats_ms": "GET /stats",
    "list_page_ms": "GET /jobs?status=failed",
}


def history_for(jobs: int) -> dict[str, int]:
    """The seed_history arguments for `jobs` finished jobs."""
    return {
        "jobs": jobs,
        "agents": round(jobs * AGENTS_PER_JOB),
        "tickets": round(jobs * TICKETS_PER_JOB),
    }


def _median_ms(op: Callable[[], object]) -> float | None:
    """The median of the runs; None when one failed or took longer than OP_TIMEOUT."""
    times: list[float] = []
    deadline = time.monotonic() + BUDGET
    while len(times) < TRIES and (not times or time.monotonic() < deadline):
        start = time.perf_counter()
        try:
            op()
        except (PyMongoError, OSError):  # a timeout, or an error answer (urllib's are OSErrors)
            return None
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def _http(base_url: str, key: str, path: str, body: Any = None) -> Callable[[], object]:
    def call() -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base_url + path, data=data, headers=headers(key))
        with urllib.request.urlopen(request, timeout=OP_TIMEOUT) as response:
            return response.read()

    return call


def _claim_and_finish(store: JobStore) -> tuple[float | None, float | None]:
    """Claim and finish jobs of the run's own, as a worker does; nothing else sees them.

    Each is recorded `pending` and claimed within milliseconds, long before the relay's grace
    would publish it, so no worker ever gets its message.
    """
    claims: list[float] = []
    finishes: list[float] = []
    worker = "bench-dbcost"
    try:
        for _ in range(TRIES):
            doc = new_job("noop", {}, 0, 1)
            store.insert(doc)
            run_id = uuid.uuid4().hex
            start = time.perf_counter()
            store.claim(doc["_id"], run_id, worker, take_over=False)
            claims.append(time.perf_counter() - start)
            start = time.perf_counter()
            store.finish(doc["_id"], run_id, JobStatus.SUCCEEDED, job_type="noop")
            finishes.append(time.perf_counter() - start)
    except PyMongoError:
        return None, None
    return (
        round(statistics.median(claims) * 1000, 2),
        round(statistics.median(finishes) * 1000, 2),
    )


def one_size(stack: LocalStack, jobs: int) -> dict[str, Any]:
    db = backends.database(stack.config, timeout_ms=int(OP_TIMEOUT * 1000))
    store = JobStore(db)
    base, key = stack.config.base_url, stack.api_key()
    s = settings()
    since = backends.marker()
    documents = db["jobs"].estimated_document_count()
    claim_ms, finish_ms = _claim_and_finish(store)
    row = {
        "history_jobs": jobs,
        "documents": documents,
        "submit_ms": _median_ms(_http(base, key, "/jobs", {"type": "noop", "payload": {}})),
        "claim_ms": claim_ms,
        "finish_ms": finish_ms,
        "relay_query_ms": _median_ms(lambda: store.due_for_dispatch(s.outbox_grace)),
        "stale_query_ms": _median_ms(lambda: store.stale_running(s.stale_after)),
        "stats_ms": _median_ms(_http(base, key, "/stats")),
        "list_page_ms": _median_ms(_http(base, key, "/jobs?status=failed&limit=50")),
    }
    backends.reset_jobs(stack.config, since)
    return row


def measure(stack: LocalStack, sizes: tuple[int, ...], log: Any) -> list[dict[str, Any]]:
    """Seed history up to each size in turn (the database keeps it) and time every operation.

    Starts from the database as it is (the benchmarks before this one leave no jobs behind).
    """
    db = backends.database(stack.config)
    rows = [one_size(stack, 0)]
    log(f"db cost with no history: {rows[-1]}")
    seeded = 0
    for size in sizes:
        step = {k: v - history_for(seeded)[k] for k, v in history_for(size).items()}
        started = time.monotonic()
        seed_history(db, step["jobs"], step["agents"], step["tickets"])
        log(f"seeded {step} in {time.monotonic() - started:.0f}s")
        seeded = size
        rows.append(one_size(stack, size))
        log(f"db cost with {size} jobs of history: {rows[-1]}")
    return rows
