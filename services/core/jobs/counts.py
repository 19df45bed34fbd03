"""Job counts grouped for reading: by status, and by type then status (`/stats`, the dashboard)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JobCounts:
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_type: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def grouped(rows: Iterable[dict[str, Any]]) -> JobCounts:
    """`rows` as `JobStore.counts` answers them: `{status, type, count}` each."""
    counts = JobCounts()
    for row in rows:
        counts.by_status[row["status"]] += row["count"]
        counts.by_type[row["type"]][row["status"]] = row["count"]
    return counts
