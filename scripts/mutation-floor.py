"""Kill rate per module from `mutmut results --all true` on stdin; exit 1 under the floor.

A mutant counts as killed when a test failed on it or it ran past its timeout; survivors and
mutants no test reaches count against the score. The floor holds for each package named on
the command line separately, so a strong package cannot carry a weak one.

    mutmut results --all true |
        python scripts/mutation-floor.py 85 services.core.jobs services.core.tickets
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable

LINE = re.compile(r"^\s*(?P<module>[\w.]+)\.x\S*__mutmut_\d+: (?P<status>.+?)\s*$")
KILLED = {"killed", "timeout"}


def tally(lines: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """Mutants killed and mutants in all, per module."""
    killed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in lines:
        match = LINE.match(line)
        if match is None:
            continue
        total[match["module"]] += 1
        killed[match["module"]] += match["status"] in KILLED
    return killed, total


def check(floor: float, prefix: str, killed: Counter[str], total: Counter[str]) -> bool:
    """Print one package's modules and score; whether it meets the floor."""
    modules = sorted(m for m in total if m == prefix or m.startswith(prefix + "."))
    if not modules:
        print(f"no mutants of {prefix} in the results", file=sys.stderr)
        return False
    for module in modules:
        print(f"  {module:40} {killed[module]:5} / {total[module]:5}")
    dead = sum(killed[m] for m in modules)
    count = sum(total[m] for m in modules)
    rate = 100 * dead / count
    print(f"  {prefix:40} {dead:5} / {count:5}  {rate:.1f}%")
    if rate < floor:
        print(
            f"{prefix}: mutation score {rate:.1f}% is under the floor of {floor:g}%",
            file=sys.stderr,
        )
        return False
    return True


def main(floor: float, prefixes: list[str]) -> int:
    killed, total = tally(sys.stdin)
    passed = [check(floor, prefix, killed, total) for prefix in prefixes]
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), sys.argv[2:]))
