"""Benchmark 1: how fast jobs are accepted through Nginx, beside two cheaper baselines.

- `POST /jobs` (noop): validate, insert, confirmed publish, mark queued.
- `POST /jobs` with an unknown type: the same Nginx → Gunicorn → Flask → pydantic path, answered
  400 before any database or broker work. The gap between the two is the cost of the write path.
- `GET /jobs/<id>`: one primary-key read, the cheapest database round trip.
- `POST /jobs/batch` (BATCH jobs per request), reported in jobs/s.

Workers keep consuming the noop jobs meanwhile, as they would in production; the queue and the
collection are emptied before every run so each starts alike.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from bench import backends, wrk
from bench.stats import summary
from services.localstack.stack import LocalStack

SCENARIOS = ("post_job", "post_invalid", "get_job")
BATCH = 100
SETTLE_MAX = 15.0


def _one_job_path(base_url: str) -> str:
    request = urllib.request.Request(
        base_url + "/jobs",
        data=json.dumps({"type": "noop", "payload": {}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Location"])


def _run(stack: LocalStack, scenario: str, connections: int, seconds: float) -> dict[str, Any]:
    backends.reset_jobs(stack.config)
    env = {"BENCH_BATCH": str(BATCH)}
    if scenario == "get_job":
        env["BENCH_JOB_PATH"] = _one_job_path(stack.config.base_url)
    result = wrk.run(scenario, stack.config.base_url, connections, seconds, env)
    # Requests wrk gave up on are still being served: let them end before the next run starts.
    time.sleep(min(result["p99_ms"] / 1000 + 1.0, SETTLE_MAX))
    return result


def measure(
    stack: LocalStack, concurrencies: tuple[int, ...], seconds: float, reps: int, log: Any
) -> dict[str, Any]:
    """Every scenario at every concurrency, `reps` times, interleaved so drift hits all alike."""
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        s: {c: [] for c in concurrencies} for s in (*SCENARIOS, "post_batch")
    }
    for rep in range(reps):
        for c in concurrencies:
            for scenario in SCENARIOS:
                result = _run(stack, scenario, c, seconds)
                runs[scenario][c].append(result)
                log(
                    f"submit rep {rep + 1} c={c} {scenario}: {result['rps']:.0f} req/s "
                    f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                    f"{result['statuses']}"
                )
        # Batches of 100 are heavy: a few connections are enough to saturate.
        for c in concurrencies[:1]:
            result = _run(stack, "post_batch", c, seconds)
            result["jobs_per_s"] = result["rps"] * BATCH
            runs["post_batch"][c].append(result)
            log(
                f"submit rep {rep + 1} c={c} post_batch: {result['jobs_per_s']:.0f} jobs/s "
                f"{result['statuses']}"
            )
    backends.reset_jobs(stack.config)
    return {"seconds_per_run": seconds, "batch_size": BATCH, "table": _table(runs), "runs": runs}


def _table(runs: dict[str, dict[int, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, by_c in runs.items():
        for c, results in by_c.items():
            if not results:
                continue
            row: dict[str, Any] = {
                "scenario": scenario,
                "connections": c,
                "rps": summary([r["rps"] for r in results]),
                "p50_ms": summary([r["p50_ms"] for r in results]),
                "p99_ms": summary([r["p99_ms"] for r in results]),
                "non_2xx": sum(
                    n for r in results for code, n in r["statuses"].items() if code[0] != "2"
                ),
            }
            if scenario == "post_batch":
                row["jobs_per_s"] = summary([r["jobs_per_s"] for r in results])
            rows.append(row)
    return rows
