"""Ticket statistics: queue, time to assign, throughput and occupancy, from plain documents."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.core.tickets.states import CHANNELS, AgentStatus, active_field, capacity_field

Doc = dict[str, Any]


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of values sorted ascending; None when there are none."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def waits(assigned: Iterable[Doc]) -> list[float]:
    """Seconds from creation to assignment, ascending."""
    return sorted((d["assigned_at"] - d["created_at"]).total_seconds() for d in assigned)


def summary(
    queue: Sequence[Doc],
    assigned: Sequence[Doc],
    agents: Sequence[Doc],
    now: datetime,
    window_seconds: float,
) -> Doc:
    """`queue`: entries of waiting tickets; `assigned`: tickets assigned within the window."""
    by_channel = {c.value: 0 for c in CHANNELS}
    for entry in queue:
        by_channel[entry["channel"]] += 1
    oldest = min((e["created_at"] for e in queue), default=None)
    seconds = waits(assigned)
    last_minute = sum(1 for d in assigned if (now - d["assigned_at"]).total_seconds() <= 60)

    def _round(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "waiting": {**by_channel, "total": len(queue)},
        "longest_wait_seconds": _round((now - oldest).total_seconds() if oldest else 0.0),
        "time_to_assign_seconds": {
            "window_seconds": window_seconds,
            "count": len(seconds),
            "p50": _round(percentile(seconds, 0.50)),
            "p90": _round(percentile(seconds, 0.90)),
            "p99": _round(percentile(seconds, 0.99)),
        },
        "assignments_per_minute": {
            "last_minute": last_minute,
            "window_average": round(len(assigned) / (window_seconds / 60), 2),
        },
        "occupancy": occupancy(agents),
        "agents": {s.value: sum(1 for a in agents if a["status"] == s) for s in AgentStatus},
    }


def occupancy(agents: Sequence[Doc]) -> Doc:
    """Active over capacity per channel, over agents that are not offline."""
    working = [a for a in agents if a["status"] != AgentStatus.OFFLINE]
    result: Doc = {}
    for channel in CHANNELS:
        capacity = sum(a[capacity_field(channel)] for a in working)
        active = sum(a[active_field(channel)] for a in working)
        result[channel.value] = {
            "active": active,
            "capacity": capacity,
            "ratio": round(active / capacity, 4) if capacity else None,
        }
    return result
