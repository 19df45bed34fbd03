"""Ticket statistics: queue, time to assign, throughput and occupancy, from plain documents."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.core.documents import Doc
from services.core.tickets.states import CHANNELS, AgentStatus, active_field, capacity_field


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
    window: Window,
    agents: Sequence[Doc],
    now: datetime,
    sla: Mapping[str, float],
) -> Doc:
    """`queue`: entries of waiting tickets; `window`: what happened over the last while."""
    assigned, window_seconds = window.assigned, window.seconds
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
        # Never below 0: a ticket made after `now` was taken, in another process, waited nothing.
        "longest_wait_seconds": _round(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0),
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
        "service_level": service_level(assigned, sla),
        "abandoned": abandonment(assigned, window.abandoned),
        "occupancy": occupancy(agents),
        "agents": {s.value: sum(1 for a in agents if a["status"] == s) for s in AgentStatus},
    }


@dataclass(frozen=True)
class Window:
    """The tickets of the stats window: assigned in it, and ended in it while waiting."""

    seconds: float
    assigned: Sequence[Doc]
    abandoned: Sequence[Doc]


def service_level(assigned: Sequence[Doc], sla: Mapping[str, float]) -> Doc:
    """Per channel: of the tickets assigned in the window, the share assigned within its SLA."""
    result: Doc = {}
    for channel in CHANNELS:
        limit = sla.get(channel.value)
        waited = waits(d for d in assigned if d["channel"] == channel.value)
        within = sum(1 for w in waited if limit is not None and w <= limit)
        result[channel.value] = {
            "sla_seconds": limit,
            "assigned": len(waited),
            "within_sla": within,
            "ratio": round(within / len(waited), 4) if waited and limit is not None else None,
        }
    return result


def abandonment(assigned: Sequence[Doc], abandoned: Sequence[Doc]) -> Doc:
    """Per channel: tickets ended while waiting in the window, and their share of all served or
    given up in it."""
    result: Doc = {}
    for channel in CHANNELS:
        gave_up = sum(1 for d in abandoned if d["channel"] == channel.value)
        served = sum(1 for d in assigned if d["channel"] == channel.value)
        total = gave_up + served
        result[channel.value] = {
            "count": gave_up,
            "ratio": round(gave_up / total, 4) if total else None,
        }
    return result


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
