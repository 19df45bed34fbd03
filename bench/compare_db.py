"""Before/after for the FerretDB profile: the same measurements on two FerretDB builds.

    python -m bench.compare_db ALT_FERRETDB [--out DIR]

The stock build (what scripts/install.sh makes) against another one, e.g. a build that pushes an
`_id` equality down to SQLite even when the filter has other fields (see docs/benchmarks.md).
Each build gets a fresh stack; the two runs follow each other on the same machine.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from bench import dbcost, endtoend, machine, stackup, submit
from bench.run import log
from services.localstack.topology import REPO, default_ferretdb

REPS = 3
E2E_N = 300


def measure(ferretdb: str) -> dict[str, Any]:
    with stackup.running_stack(workers=2, ferretdb=ferretdb) as stack:
        return {
            "ferretdb": ferretdb,
            "machine": machine.describe(ferretdb),
            "submit": submit.measure(stack, (8,), 5, REPS, log)["table"],
            "endtoend": endtoend.measure(stack, E2E_N, REPS, 900, log),
            "dbcost": dbcost.measure(stack, (100, 1000, 5000), log),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("alt", help="the other FerretDB binary")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    # Stop cleanly (and take the stack down) on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {"stock": measure(default_ferretdb()), "alt": measure(args.alt)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks-ferretdb.json").write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.out / 'benchmarks-ferretdb.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
