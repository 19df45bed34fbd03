"""`make bench`: start a private stack, run the five benchmarks, write docs/benchmarks.*.

python -m bench.run [--quick] [--reps N] [--ferretdb PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    assignment,
    charts,
    dbcost,
    endtoend,
    machine,
    priority,
    report,
    resources,
    stackup,
    submit,
    wrk,
)
from services.localstack.topology import REPO

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
            "backlog": 300,
            "tickets": 100,
            "db_sizes": (100, 1000),
        }
    return {
        "reps": reps or 3,
        "concurrencies": (8, 32, 64),
        "seconds": 5,
        # Small enough to finish in minutes on FerretDB, whose writes slow down as jobs pile up.
        "e2e_n": 300,
        "backlog": 1000,
        "tickets": 200,
        "db_sizes": (100, 1000, 5000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--reps", type=int, help="repetitions of each measurement")
    parser.add_argument("--ferretdb", default="", help="another FerretDB binary to measure")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    if not wrk.available():
        log("wrk is not installed: run scripts/install.sh")
        return 2
    # Stop cleanly (and take the stack down) on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = _plan(args.quick, args.reps)
    results: dict[str, Any] = {"machine": machine.describe(args.ferretdb), "reps": plan["reps"]}
    results["plan"] = {k: v for k, v in plan.items()}
    timeout = 900.0
    log(f"machine: {results['machine']}")
    with stackup.running_stack(workers=2, ferretdb=args.ferretdb) as stack:
        log(f"stack up at {stack.config.base_url} (data in {stack.config.data_dir})")
        time.sleep(5)  # let start-up work (index builds, first beat ticks) settle
        at_rest = resources.sample(stack)
        with resources.PeakSampler(stack) as sampler:
            results["submit"] = submit.measure(
                stack, plan["concurrencies"], plan["seconds"], plan["reps"], log
            )
            results["endtoend"] = endtoend.measure(stack, plan["e2e_n"], plan["reps"], timeout, log)
            results["priority"] = priority.measure(
                stack, plan["backlog"], plan["reps"], timeout, log
            )
            results["assignment"] = assignment.measure(
                stack, plan["tickets"], plan["reps"], timeout, log
            )
        results["resources"] = resources.table(at_rest, sampler.peak)
        results["dbcost"] = dbcost.measure(stack, plan["db_sizes"], log)
    write(results, args.out)
    return 0


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    m = results["machine"]
    charts.submit_chart(results["submit"], m, out / "benchmarks-submit.png")
    charts.endtoend_chart(results["endtoend"], m, out / "benchmarks-endtoend.png")
    charts.priority_chart(results["priority"], m, out / "benchmarks-priority.png")
    charts.resources_chart(results["resources"], m, out / "benchmarks-resources.png")
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    compared = out / "benchmarks-ferretdb.json"
    compare = json.loads(compared.read_text()) if compared.exists() else None
    (out / "benchmarks.md").write_text(report.render(results, findings, compare))
    log(f"wrote {out / 'benchmarks.md'}, benchmarks.json and 4 charts")


if __name__ == "__main__":
    sys.exit(main())
