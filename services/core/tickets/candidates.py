"""Which agent to try for a ticket, which ticket for an agent: short-lived snapshots per process.

Ordering agents by the strategy needs every eligible agent, and FerretDB filters and sorts by
reading each document (about 15 ms per ticket at 200 agents). A snapshot read at most `max_age`
seconds ago orders the candidates instead. Staleness costs a failed reservation at worst, never
correctness: each reservation is conditional on the agent as it is now. A ticket for which the
snapshot knows no free agent waits for the next pull or, at worst, the sweep.

A snapshot is read again once it is older than `max_age`, or than `READ_COST_RATIO` times what
the last read took, whichever is longer: as the agents or the queue grow, each process spends a
bounded share of its time (and of the database's) re-reading them.

The same holds for the queue of waiting tickets, read in full by every pull otherwise: an entry
from the snapshot is checked against its ticket before anything is reserved for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.core import clock
from services.core.tickets import matching
from services.core.tickets.matching import Strategy
from services.core.tickets.states import active_field, free_field
from services.core.tickets.store import Doc, TicketStore

READ_COST_RATIO = 20.0


class _Timed:
    """When a snapshot was read, and whether it is due for another read."""

    def __init__(self, max_age: float, now: Callable[[], float]) -> None:
        self.max_age = max_age
        self._now = now
        self._read_at = float("-inf")
        self._took = 0.0

    def due(self) -> bool:
        return self._now() - self._read_at > max(self.max_age, READ_COST_RATIO * self._took)

    def read(self, load: Callable[[], list[Doc]]) -> dict[str, Doc]:
        started = self._now()
        docs = {d["_id"]: d for d in load()}
        self._read_at = self._now()
        self._took = self._read_at - started
        return docs


class Snapshot:
    def __init__(self, max_age: float, now: Callable[[], float] = time.monotonic) -> None:
        self._timed = _Timed(max_age, now)
        self._agents: dict[str, Doc] = {}

    def candidates(
        self,
        store: TicketStore,
        channel: str,
        skills: Sequence[str],
        strategy: Strategy,
        limit: int,
        preferred: Sequence[str] = (),
    ) -> list[Doc]:
        """The best few agents for a ticket as of the snapshot, best first."""
        if self._timed.due():
            self.refresh(store)
        eligible = [a for a in self._agents.values() if matching.is_eligible(a, channel, skills)]
        return sorted(eligible, key=matching.agent_key(strategy, channel, preferred))[:limit]

    def refresh(self, store: TicketStore) -> None:
        self._agents = self._timed.read(store.available_agents)

    def took(self, agent_id: str, channel: str) -> None:
        """This process reserved a unit: count it until the next read."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent[free_field(channel)] -= 1
            agent[active_field(channel)] += 1
            agent["assigned_total"] += 1

    def refused(self, agent_id: str, channel: str) -> None:
        """The agent could not be reserved: leave it out until the next read."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent[free_field(channel)] = 0


class QueueSnapshot:
    def __init__(
        self,
        max_age: float,
        now: Callable[[], float] = time.monotonic,
        ageing: matching.Ageing | None = None,
    ) -> None:
        self._timed = _Timed(max_age, now)
        self._entries: dict[str, Doc] = {}
        self._ageing = ageing or matching.Ageing()

    def servable(
        self, store: TicketStore, agent: Doc, channels: Sequence[str], limit: int
    ) -> list[Doc]:
        """The best few entries the agent could take as of the snapshot, best first."""
        if self._timed.due():
            self._entries = self._timed.read(store.queue_entries)
        servable = [
            e
            for e in self._entries.values()
            if e["channel"] in channels and matching.has_skills(agent["skills"], e["skills"])
        ]
        return sorted(servable, key=self._ageing.key(clock.now()))[:limit]

    def drop(self, ticket_id: str) -> None:
        """The ticket is no longer waiting (or this process just took it)."""
        self._entries.pop(ticket_id, None)
