"""How long jobs wait to start and run, as histogram counters kept in the database.

Each observation adds one to its bucket's counter (the first bucket whose bound it is within),
to a sum and to a count, in a document per job type of `job_timings`, so that any web replica can
serve the histograms for Prometheus and no process keeps them in memory. Workers add through the
same background tally as the finished-job counters.
"""

from __future__ import annotations

import bisect
from typing import Any

# Upper bounds in seconds: Prometheus' defaults, and a few for long jobs.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
# The two histograms: from submit (or `run_at`) to the first attempt's start, and each attempt's
# run, from its start to its outcome.
WAIT, RUN = "wait", "run"


def increments(histogram: str, seconds: float) -> dict[str, float]:
    """The counter increments one observation makes (the last bucket is +Inf)."""
    bucket = bisect.bisect_left(BUCKETS, seconds)
    return {f"{histogram}_b{bucket}": 1, f"{histogram}_sum": seconds, f"{histogram}_count": 1}


def cumulative(doc: dict[str, Any], histogram: str) -> tuple[list[tuple[str, float]], float]:
    """Prometheus' buckets (`le`, count so far) and the sum, from one type's counters."""
    total, buckets = 0.0, []
    for i, bound in enumerate((*BUCKETS, float("inf"))):
        total += doc.get(f"{histogram}_b{i}", 0)
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return buckets, float(doc.get(f"{histogram}_sum", 0.0))
