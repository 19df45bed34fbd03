"""Which agents to try first for a new ticket: a short-lived snapshot of the agents, per process.

Ordering agents by the strategy needs every eligible agent, and FerretDB filters and sorts by
reading each document (about 15 ms per ticket at 200 agents). A snapshot read at most `max_age`
seconds ago orders the candidates instead. Staleness costs a failed reservation at worst, never
correctness: each reservation is conditional on the agent as it is now. A ticket for which the
snapshot knows no free agent waits for the next pull or, at worst, the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.core.tickets import matching
from services.core.tickets.matching import Strategy
from services.core.tickets.states import active_field, free_field
from services.core.tickets.store import Doc, TicketStore


class Snapshot:
    def __init__(self, max_age: float, now: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._now = now
        self._agents: dict[str, Doc] = {}
        self._read_at = float("-inf")

    def candidates(
        self,
        store: TicketStore,
        channel: str,
        skills: Sequence[str],
        strategy: Strategy,
        limit: int,
    ) -> list[Doc]:
        """The best few agents for a ticket as of the snapshot, best first."""
        if self._now() - self._read_at > self.max_age:
            self.refresh(store)
        eligible = [a for a in self._agents.values() if matching.is_eligible(a, channel, skills)]
        return sorted(eligible, key=matching.agent_key(strategy, channel))[:limit]

    def refresh(self, store: TicketStore) -> None:
        self._agents = {a["_id"]: a for a in store.all_agents()}
        self._read_at = self._now()

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
