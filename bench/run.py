"""`make bench`: start a private stack, measure it empty and with history, write docs/benchmarks.*.

On one stack, in this order: submit, end to end and ticket assignment (each beside its
baselines) on the empty database, with maintenance's durations meanwhile; priority; memory;
then history is seeded in steps up to issue 12's size, timing every hot and periodic operation
at each step; and submit, end to end and ticket assignment again, on the history. `--quick`
seeds 20,000 jobs instead. Last, on the same history, issue 11's job features (bench/features.py).
`--only features` runs that stage alone: on a stack of its own, after seeding the same history,
and adds its figures to the docs/benchmarks.json already there.

python -m bench.run [--quick] [--reps N] [--database PATH] [--out DIR] [--only features]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pymongo.database import Database

from bench import assignment, charts, dbcost, endtoend, features, priority, report, submit, wrk
from bench.maintenance import MaintenanceWatch
from tools.localstack import backends, machine, resources, stackup
from tools.localstack.history import seed_history
from tools.localstack.stack import LocalStack
from tools.localstack.topology import REPO

FINDINGS = REPO / "bench" / "findings.md"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _plan(quick: bool, reps: int | None) -> dict[str, Any]:
    if quick:
        return {
            "reps": reps or 1,
            "concurrencies": (8, 32),
            "seconds": 3,
            "e2e_n": 200,
            "timeout": 120.0,
            "backlog": 300,
            "tickets": 100,
            # The last size is the history the second pass measures on.
            "history_sizes": (2_000, 20_000),
        }
    return {
        "reps": reps or 3,
        "concurrencies": (8, 32, 64),
        "seconds": 5,
        # Long enough for a dozen relay ticks, and for a run to be more than start-up noise.
        "e2e_n": 2000,
        # A stack that scans history may never finish: its rate so far is the figure then.
        "timeout": 600.0,
        "backlog": 1000,
        "tickets": 200,
        # Issue 12's history: 1,000,000 finished jobs, 10,000 agents, 100,000 finished tickets.
        "history_sizes": (10_000, 100_000, 1_000_000),
    }


def _data_size(db: Database) -> dict[str, int]:
    return {name: db[name].estimated_document_count() for name in ("jobs", "agents", "tickets")}


def _pass(stack: LocalStack, plan: dict[str, Any], name: str) -> dict[str, Any]:
    """Submit, end to end and ticket assignment, each beside its baselines, on the database as
    it is; and what the maintenance tasks took meanwhile."""
    db = backends.database(stack.config)
    log(f"{name} pass on {_data_size(db)}")
    since = backends.marker()
    with MaintenanceWatch(db) as watch:
        measured = {
            "submit": submit.measure(
                stack, plan["concurrencies"], plan["seconds"], plan["reps"], log, since
            ),
            "endtoend": endtoend.measure(
                stack, plan["e2e_n"], plan["reps"], plan["timeout"], log, since
            ),
            "assignment": assignment.measure(
                stack, plan["tickets"], plan["reps"], plan["timeout"], log
            ),
        }
    return {"data": _data_size(db), **measured, "maintenance": watch.result()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--reps", type=int, help="repetitions of each measurement")
    parser.add_argument("--database", default="", help="another MongoDB-wire server binary")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--only", choices=["features"], help="run one stage alone")
    args = parser.parse_args(argv)
    # Stop cleanly (and take the stack down) on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.only == "features":
        return features_alone(args.quick, args.database, args.out)
    if not wrk.available():
        log("wrk is not installed: run scripts/install.sh")
        return 2
    plan = _plan(args.quick, args.reps)
    results: dict[str, Any] = {"machine": machine.describe(args.database), "plan": plan}
    log(f"machine: {results['machine']}")
    env = features.stack_env()
    with stackup.running_stack(workers=2, env=env, database=args.database) as stack:
        log(f"stack up at {stack.config.base_url} (data in {stack.config.data_dir})")
        time.sleep(5)  # let start-up work (index builds, first beat ticks) settle
        at_rest = resources.sample(stack)
        with resources.PeakSampler(stack) as sampler:
            results["empty"] = _pass(stack, plan, "empty database")
            results["priority"] = priority.measure(
                stack, plan["backlog"], plan["reps"], plan["timeout"], log
            )
        results["resources"] = resources.table(at_rest, sampler.peak)
        # Seeds the history, in steps, that the second pass then measures on.
        results["dbcost"] = dbcost.measure(stack, plan["history_sizes"], log)
        results["history"] = _pass(stack, plan, "history")
        results["features"] = features.measure(stack, args.quick, log)
    write(results, args.out)
    return 0


def features_alone(quick: bool, database: str, out: Path) -> int:
    """Issue 11's stage alone, on the history the whole run would seed; its figures replace
    those of `features` in the results already in `out`, and the page is rendered again."""
    jobs = _plan(quick, None)["history_sizes"][-1]
    described = machine.describe(database)
    log(f"machine: {described}")
    with stackup.running_stack(workers=2, env=features.stack_env(), database=database) as stack:
        history = dbcost.history_for(jobs)
        db = backends.database(stack.config)
        seed_history(db, history["jobs"], history["agents"], history["tickets"])
        log(f"seeded {history}")
        time.sleep(5)  # let start-up work (index builds, first beat ticks) settle
        figures = features.measure(stack, quick, log)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "benchmarks.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["features"] = {**figures, "alone": {"machine": described, "history_jobs": jobs}}
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if "empty" in results:  # a whole run's results to render the page from
        findings = FINDINGS.read_text() if FINDINGS.exists() else ""
        (out / "benchmarks.md").write_text(report.render(results, findings))
    log(f"wrote the features' figures into {path}")
    return 0


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    m = results["machine"]
    charts.submit_chart(results["empty"], results["history"], m, out / "benchmarks-submit.png")
    charts.endtoend_chart(results["empty"], results["history"], m, out / "benchmarks-endtoend.png")
    charts.dbcost_chart(results["dbcost"], m, out / "benchmarks-dbcost.png")
    charts.priority_chart(results["priority"], m, out / "benchmarks-priority.png")
    charts.resources_chart(results["resources"], m, out / "benchmarks-resources.png")
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    (out / "benchmarks.md").write_text(report.render(results, findings))
    log(f"wrote {out / 'benchmarks.md'}, benchmarks.json and 5 charts")


if __name__ == "__main__":
    sys.exit(main())
