"""Who may take which ticket, in what order: pure rules over plain documents.

The snapshots (`candidates`) and the sweep order agents and tickets with the Python forms; the
reservation's filter (`eligible_filter`) and the queue's order (`WAITING_SORT`) are the same
rules as MongoDB queries, so a stale snapshot can only propose what the database then refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING

from services.core.documents import ReadOnlyDoc as Doc
from services.core.tickets.states import (
    CHANNEL_RANK,
    AgentStatus,
    Channel,
    active_field,
    free_field,
)

SortSpec = list[tuple[str, int]]


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"


# -- agents for a ticket ---------------------------------------------------------------------------


def has_skills(agent_skills: Iterable[str], wanted: Iterable[str]) -> bool:
    return set(wanted) <= set(agent_skills)


def is_eligible(agent: Doc, channel: str, skills: Sequence[str]) -> bool:
    """Available, every skill asked for, and free capacity on the ticket's channel."""
    return (
        agent["status"] == AgentStatus.AVAILABLE
        and agent[free_field(channel)] > 0
        and has_skills(agent["skills"], skills)
    )


def eligible_filter(channel: str, skills: Sequence[str]) -> dict[str, Any]:
    """`is_eligible` as a query. `$all: []` matches nothing, so no skills means no clause."""
    query: dict[str, Any] = {"status": AgentStatus.AVAILABLE.value, free_field(channel): {"$gt": 0}}
    if skills:
        query["skills"] = {"$all": sorted(set(skills))}
    return query


def agent_key(strategy: Strategy, channel: str, preferred: Sequence[str] = ()) -> Any:
    """Best agent first; `_id` last so that equal agents come in a stable order.

    Agents with more of the `preferred` skills (those a widened ticket first asked for) first."""
    wanted = set(preferred)
    if strategy is Strategy.LONGEST_IDLE:
        return lambda a: (-len(wanted.intersection(a["skills"])), a["last_freed_at"], a["_id"])
    return lambda a: (
        -len(wanted.intersection(a["skills"])),
        a[active_field(channel)],
        a["assigned_total"],
        a["_id"],
    )


def declined(ticket: Doc, agent_id: str, now: datetime) -> bool:
    """Whether the agent turned the ticket down (or let its offer lapse) too recently."""
    until = ticket.get("declined", {}).get(agent_id)
    return until is not None and until > now


# -- tickets for an agent --------------------------------------------------------------------------


def channel_rank(channel: str) -> int:
    return CHANNEL_RANK[Channel(channel)]


# How the queue is stored: higher priority first; at equal priority voice before text; then the
# oldest. Who takes what orders by standing, which ageing raises (`Ageing`).
WAITING_SORT: SortSpec = [
    ("priority", DESCENDING),
    ("rank", ASCENDING),
    ("created_at", ASCENDING),
    ("_id", ASCENDING),
]


def waiting_key(ticket: Doc) -> tuple[int, int, datetime, str]:
    """`WAITING_SORT` as a Python sort key."""
    return (-ticket["priority"], ticket["rank"], ticket["created_at"], ticket["_id"])


@dataclass(frozen=True)
class Ageing:
    """A waiting ticket's standing: its priority, plus `per_sla` levels for every SLA of its
    channel it has waited (voice's SLA is short, so a voice ticket rises sooner). A ticket that
    few agents can serve thus rises above any newer one, and is never passed over for ever.
    Among equal standing: voice before text, then the oldest."""

    sla: Mapping[str, float] = field(default_factory=dict)
    per_sla: float = 0.0

    def standing(self, ticket: Doc, now: datetime) -> int:
        sla = self.sla.get(ticket["channel"])
        if not self.per_sla or not sla:
            return int(ticket["priority"])
        waited = max((now - ticket["created_at"]).total_seconds(), 0.0)
        return int(ticket["priority"] + self.per_sla * waited / sla)

    def key(self, now: datetime) -> Callable[[Doc], tuple[int, int, datetime, str]]:
        """Best first, as of `now`."""
        return lambda t: (-self.standing(t, now), t["rank"], t["created_at"], t["_id"])


def best_ticket(
    tickets: Iterable[Doc], agent: Doc, order: Callable[[Doc], Any] = waiting_key
) -> Doc | None:
    servable = [
        t
        for t in tickets
        if agent[free_field(t["channel"])] > 0 and has_skills(agent["skills"], t["skills"])
    ]
    return min(servable, key=order, default=None)
