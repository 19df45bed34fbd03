"""Benchmark: how fast jobs are accepted through Nginx, beside its baselines.

- `POST /jobs` (noop): validate, record, confirmed publish, mark queued.
- `POST /jobs` with an unknown type: the same Nginx → Gunicorn → Flask → pydantic path, answered
  400 before any database or broker work. The gap between the two is the cost of the write path.
- seed 004's way of doing it (bench/seed004.py): insert, a new AMQP connection per publish,
  read back; on the same MongoDB and RabbitMQ, served by one gevent Gunicorn worker.
- `GET /jobs/<id>`: one primary-key read, the cheapest database round trip.
- `POST /jobs/batch` (BATCH jobs per request), reported in jobs/s.

Requests/s count only the answers each scenario is meant to give (2xx; 400 for the invalid one).
The job workers are stopped for the whole section: on this machine they would share the web
replicas' two cores, so what is measured here is the API tier alone, as on a deployment whose
workers run elsewhere (end to end, benchmark 2, measures the two together). After every run the
queue is emptied and the jobs the run made are deleted (the history, if any, stays), so each run
starts alike.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import cpu, wrk
from bench.seed004 import Seed004
from bench.stats import summary
from tools.localstack import backends
from tools.localstack.http import headers
from tools.localstack.stack import LocalStack

SCENARIOS = ("post_job", "post_invalid", "seed004", "get_job")
BATCH = 100
SETTLE_MAX = 15.0
# The answer each scenario exists to measure; anything else (a 503, a timeout) is not counted.
EXPECTED = {"post_invalid": "400"}


def _one_job_path(base_url: str, key: str) -> str:
    request = urllib.request.Request(
        base_url + "/jobs",
        data=json.dumps({"type": "noop", "payload": {}}).encode(),
        headers=headers(key),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Location"])


def _run(
    stack: LocalStack,
    seed004: Seed004,
    scenario: str,
    connections: int,
    seconds: float,
    since: str,
) -> dict[str, Any]:
    env = {"BENCH_BATCH": str(BATCH), "BENCH_API_KEY": stack.api_key()}
    base_url = seed004.base_url if scenario == "seed004" else stack.config.base_url
    if scenario == "get_job":
        try:
            env["BENCH_JOB_PATH"] = _one_job_path(base_url, stack.api_key())
        except OSError:
            # No job to read: POST /jobs is refused or too slow, which post_job shows already.
            return {"rps": 0.0, "all_rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "statuses": {}}
    seed_app = {"seed 004 app": [seed004.proc.pid]} if seed004.proc else {}
    with cpu.spent(stack, seed_app) as used:
        result = wrk.run(scenario, base_url, connections, seconds, env)
    expected = EXPECTED.get(scenario, "2")
    answered = sum(n for code, n in result["statuses"].items() if code.startswith(expected))
    result["all_rps"], result["rps"] = result["rps"], answered / result["seconds"]
    # Per answer; per job for batches. The job workers are stopped (`workers_stopped`): this is
    # what accepting a job costs, without running it.
    result["cpu_ms"] = cpu.per_unit(used, answered * (BATCH if scenario == "post_batch" else 1))
    # Requests wrk gave up on are still being served: let them end before the next run starts.
    time.sleep(min(result["p99_ms"] / 1000 + 1.0, SETTLE_MAX))
    if scenario == "seed004":
        seed004.reset()
    else:
        backends.reset_jobs(stack.config, since)
    return result


@contextmanager
def workers_stopped(stack: LocalStack) -> Iterator[None]:
    """The stack's job workers stopped in the block (the ticket and maintenance workers run)."""
    names = [f"worker-{i}" for i in range(1, stack.config.workers + 1)]
    stack.ctl("stop", *names)
    try:
        yield
    finally:
        stack.ctl("start", *names)


def measure(
    stack: LocalStack,
    concurrencies: tuple[int, ...],
    seconds: float,
    reps: int,
    log: Any,
    since: str,
) -> dict[str, Any]:
    """Every scenario at every concurrency, `reps` times, interleaved so drift hits all alike.

    `since`: a `backends.marker()` from before the first run. Every reset deletes all the jobs
    made since, so that those a run's requests still made after wrk gave up go too.
    """
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        s: {c: [] for c in concurrencies} for s in (*SCENARIOS, "post_batch")
    }
    with Seed004(stack.config) as seed004, workers_stopped(stack):
        for rep in range(reps):
            for c in concurrencies:
                for scenario in SCENARIOS:
                    result = _run(stack, seed004, scenario, c, seconds, since)
                    runs[scenario][c].append(result)
                    log(
                        f"submit rep {rep + 1} c={c} {scenario}: {result['rps']:.0f} req/s "
                        f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                        f"{result['statuses']}"
                    )
            # Batches of 100 are heavy: a few connections are enough to saturate.
            for c in concurrencies[:1]:
                result = _run(stack, seed004, "post_batch", c, seconds, since)
                result["jobs_per_s"] = result["rps"] * BATCH
                runs["post_batch"][c].append(result)
                log(
                    f"submit rep {rep + 1} c={c} post_batch: {result['jobs_per_s']:.0f} jobs/s "
                    f"{result['statuses']}"
                )
    table = _table(runs)
    return {
        "seconds_per_run": seconds,
        "batch_size": BATCH,
        "table": table,
        "best": _best(table),
        "runs": runs,
    }


def _best(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Each scenario at its own best concurrency, and POST /jobs against its two baselines."""
    best = {
        scenario: max(r["rps"]["median"] or 0.0 for r in table if r["scenario"] == scenario)
        for scenario in SCENARIOS
    }
    batch = max(r["jobs_per_s"]["median"] or 0.0 for r in table if r["scenario"] == "post_batch")
    return {
        **best,
        "batch_jobs_per_s": batch,
        "post_job_of_refused": best["post_job"] / best["post_invalid"]
        if best["post_invalid"]
        else 0,
        "post_job_times_seed004": best["post_job"] / best["seed004"] if best["seed004"] else 0,
    }


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
                "unexpected": sum(
                    n
                    for r in results
                    for code, n in r["statuses"].items()
                    if not code.startswith(EXPECTED.get(scenario, "2"))
                ),
            }
            if scenario == "post_batch":
                row["jobs_per_s"] = summary([r["jobs_per_s"] for r in results])
            rows.append(row)
    return rows
