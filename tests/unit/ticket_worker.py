"""A ticket worker's matching state, built as `services/worker/ticket_tasks.py` builds it.

The one difference is the clock: the test's, moved past the snapshots' age before each call, so
every message is served from a fresh read (as when messages come further apart than that age)
and no outcome depends on how fast the test runs.
"""

from __future__ import annotations

from services.core.tickets import assignment
from services.core.tickets.assignment import Assigned
from services.core.tickets.candidates import QueueSnapshot, Snapshot
from services.core.tickets.matching import Ageing, Strategy
from services.core.tickets.store import TicketStore
from services.worker.ticket_tasks import SNAPSHOT_AGE


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class TicketWorker:
    def __init__(
        self,
        store: TicketStore,
        strategy: Strategy = Strategy.LONGEST_IDLE,
        ageing: Ageing | None = None,
    ) -> None:
        self.store = store
        self.strategy = strategy
        self.clock = ManualClock()
        self.snapshot = Snapshot(max_age=SNAPSHOT_AGE, now=self.clock)
        self.queue = QueueSnapshot(max_age=SNAPSHOT_AGE, now=self.clock, ageing=ageing)

    def assign(self, ticket_id: str) -> Assigned:
        """What `assign_ticket` does with the ticket's message."""
        self._later()
        return assignment.assign(self.store, ticket_id, self.strategy, self.snapshot)

    def pull(self, agent_id: str) -> int:
        """What `agent_pull` does with the agent's message."""
        self._later()
        return assignment.pull(self.store, agent_id, self.queue)

    def _later(self) -> None:
        self.clock.t += 2 * SNAPSHOT_AGE
