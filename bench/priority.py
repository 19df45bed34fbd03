"""Benchmark 3: a few high-priority jobs submitted behind a backlog of low-priority ones.

The backlog (priority 0, noop) is posted in batches, then HIGH jobs at priority 9. Reported:
the share of the backlog that finished before the last high-priority job did (target <= 5%),
the same share of only the backlog still waiting when the high ones arrived, and how long the
high ones took from submission to `succeeded`. The rest of the backlog is purged, not waited for.
Counts cover only the run's own jobs (`_id` from the run's start on), never the history.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.stats import summary
from tools.localstack import backends
from tools.localstack.http import post_ok
from tools.localstack.stack import LocalStack

BATCH = 250
HIGH = 5


def one_run(stack: LocalStack, backlog: int, timeout: float) -> dict[str, Any]:
    since = backends.marker()
    base, key = stack.config.base_url, stack.api_key()
    jobs = backends.database(stack.config)["jobs"]
    low_job = {"type": "noop", "payload": {}, "priority": 0}
    for offset in range(0, backlog, BATCH):
        post_ok(base, "/jobs/batch", {"jobs": [low_job] * min(BATCH, backlog - offset)}, key)
    high_at = datetime.now(UTC)
    low_done_at_high = jobs.count_documents(
        {"_id": {"$gte": since}, "priority": 0, "status": "succeeded"}
    )
    high = post_ok(base, "/jobs/batch", {"jobs": [{**low_job, "priority": 9}] * HIGH}, key)["jobs"]
    high_ids = [j["id"] for j in high]
    deadline = time.monotonic() + timeout
    # One primary-key read per job: the only query FerretDB answers without a full scan.
    while any(
        (jobs.find_one({"_id": i}, {"status": 1}) or {}).get("status") != "succeeded"
        for i in high_ids
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"high-priority jobs not done within {timeout:.0f}s")
        time.sleep(0.2)
    docs = [jobs.find_one({"_id": i}, {"finished_at": 1}) for i in high_ids]
    finished = [d["finished_at"] for d in docs if d is not None]
    last_high = max(finished)
    low_before = jobs.count_documents(
        {
            "_id": {"$gte": since},
            "priority": 0,
            "status": "succeeded",
            "finished_at": {"$lte": last_high},
        }
    )
    waiting = backlog - low_done_at_high
    backends.reset_jobs(stack.config, since)
    return {
        "backlog": backlog,
        "high": HIGH,
        "backlog_done_before_last_high": low_before / backlog,
        "waiting_backlog_done_before_last_high": (low_before - low_done_at_high) / max(waiting, 1),
        "backlog_waiting_when_high_submitted": waiting,
        "high_latency_s": [(t - high_at).total_seconds() for t in finished],
    }


def measure(stack: LocalStack, backlog: int, reps: int, timeout: float, log: Any) -> dict[str, Any]:
    runs = []
    for rep in range(reps):
        runs.append(one_run(stack, backlog, timeout))
        log(
            f"priority rep {rep + 1}: {100 * runs[-1]['backlog_done_before_last_high']:.1f}% of "
            f"the backlog finished before the last high-priority job; waiting backlog "
            f"{runs[-1]['backlog_waiting_when_high_submitted']}"
        )
    return {
        "backlog": backlog,
        "high": HIGH,
        "backlog_done_before_last_high": summary(
            [r["backlog_done_before_last_high"] for r in runs]
        ),
        "waiting_backlog_done_before_last_high": summary(
            [r["waiting_backlog_done_before_last_high"] for r in runs]
        ),
        "high_latency_max_s": summary([max(r["high_latency_s"]) for r in runs]),
        "runs": runs,
    }
