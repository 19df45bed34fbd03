"""Who may take which ticket, in what order: pure rules shared by the store's queries and tests.

The store turns these rules into MongoDB filters and sorts; the same rules as Python functions
let the tests check the queries, and the invariant checker judge a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING

from services.core.tickets.states import (
    CHANNEL_RANK,
    AgentStatus,
    Channel,
    active_field,
    free_field,
)

Doc = Mapping[str, Any]
SortSpec = list[tuple[str, int]]


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"


def parse_strategy(name: str) -> Strategy:
    """The configured strategy; an unknown name is a configuration error, raised at start."""
    try:
        return Strategy(name)
    except ValueError:
        known = ", ".join(s.value for s in Strategy)
        raise ValueError(f"unknown ASSIGNMENT_STRATEGY {name!r}; known: {known}") from None


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


def agent_sort(strategy: Strategy, channel: str) -> SortSpec:
    """Best agent first; `_id` last so that equal agents come in a stable order."""
    if strategy is Strategy.LONGEST_IDLE:
        return [("last_freed_at", ASCENDING), ("_id", ASCENDING)]
    return [(active_field(channel), ASCENDING), ("assigned_total", ASCENDING), ("_id", ASCENDING)]


def agent_key(strategy: Strategy, channel: str) -> Any:
    """`agent_sort` as a Python sort key."""
    if strategy is Strategy.LONGEST_IDLE:
        return lambda a: (a["last_freed_at"], a["_id"])
    return lambda a: (a[active_field(channel)], a["assigned_total"], a["_id"])


def best_agent(
    agents: Iterable[Doc], channel: str, skills: Sequence[str], strategy: Strategy
) -> Doc | None:
    eligible = [a for a in agents if is_eligible(a, channel, skills)]
    return min(eligible, key=agent_key(strategy, channel), default=None)


# -- tickets for an agent --------------------------------------------------------------------------


def channel_rank(channel: str) -> int:
    return CHANNEL_RANK[Channel(channel)]


# Higher priority first; at equal priority voice before text; then the oldest.
WAITING_SORT: SortSpec = [
    ("priority", DESCENDING),
    ("rank", ASCENDING),
    ("created_at", ASCENDING),
    ("_id", ASCENDING),
]


def waiting_key(ticket: Doc) -> tuple[int, int, datetime, str]:
    """`WAITING_SORT` as a Python sort key."""
    return (-ticket["priority"], ticket["rank"], ticket["created_at"], ticket["_id"])


def servable_filter(
    channels: Sequence[str], agent_skills: Iterable[str], known_skills: Iterable[str]
) -> dict[str, Any]:
    """Waiting tickets on `channels` that ask for no skill the agent lacks.

    "Every skill of the ticket is one of the agent's" has no portable query form (FerretDB
    mishandles `$not`/`$elemMatch`), so it is asked as "none of the skills the agent lacks",
    over the skills the queue is known to hold. A ticket with a skill that appeared since is
    let through here and refused by `has_skills` and the reservation's own filter.
    """
    lacking = sorted(set(known_skills) - set(agent_skills))
    query: dict[str, Any] = {"channel": {"$in": list(channels)}}
    if lacking:
        query["skills"] = {"$nin": lacking}
    return query


def best_ticket(tickets: Iterable[Doc], agent: Doc) -> Doc | None:
    servable = [
        t
        for t in tickets
        if agent[free_field(t["channel"])] > 0 and has_skills(agent["skills"], t["skills"])
    ]
    return min(servable, key=waiting_key, default=None)
