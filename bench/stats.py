"""Median and spread of repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summary(values: Sequence[float]) -> dict[str, Any]:
    """The median, the range, and every run, so a reader can judge the noise."""
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def spread(s: dict[str, Any], unit: str = "", digits: int = 0) -> str:
    """`median (min-max)` for a table cell."""
    if s["median"] is None:
        return "—"
    fmt = f"{{:.{digits}f}}"
    return f"{fmt.format(s['median'])}{unit} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"
