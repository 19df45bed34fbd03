"""Kill rate per module from `mutmut results --all true` on stdin; exit 1 under the floor.

A mutant counts as killed when a test failed on it or it ran past its timeout; survivors and
mutants no test reaches count against the score.

    mutmut results --all true | python scripts/mutation-floor.py 85 services.core.jobs
"""

from __future__ import annotations

import re
import sys
from collections import Counter

LINE = re.compile(r"^\s*(?P<module>[\w.]+)\.x\S*__mutmut_\d+: (?P<status>.+?)\s*$")
KILLED = {"killed", "timeout"}


def main(floor: float, prefix: str) -> int:
    killed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in sys.stdin:
        match = LINE.match(line)
        if match is None or not match["module"].startswith(prefix):
            continue
        total[match["module"]] += 1
        killed[match["module"]] += match["status"] in KILLED
    if not total:
        print(f"no mutants of {prefix} in the results", file=sys.stderr)
        return 1
    for module in sorted(total):
        print(f"  {module:40} {killed[module]:5} / {total[module]:5}")
    rate = 100 * sum(killed.values()) / sum(total.values())
    print(f"  {prefix:40} {sum(killed.values()):5} / {sum(total.values()):5}  {rate:.1f}%")
    if rate < floor:
        print(f"mutation score {rate:.1f}% is under the floor of {floor:g}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), sys.argv[2]))
