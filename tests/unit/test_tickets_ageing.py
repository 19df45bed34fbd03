"""Ageing: a waiting ticket rises with its wait, so a scarce skill is served under any flood."""

from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest

from services.core import clock
from services.core.tickets import assignment
from services.core.tickets.matching import Ageing
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import TicketStore
from tests.unit.test_tickets_assignment import add_agent, add_ticket
from tests.unit.ticket_worker import TicketWorker

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AGEING = Ageing({"voice": 20.0, "text": 120.0}, per_sla=1.0)


def _ticket(channel: str, priority: int, waited: float, _id: str = "t") -> dict[str, Any]:
    return {
        "_id": _id,
        "channel": channel,
        "priority": priority,
        "rank": {"voice": 0, "text": 1}[channel],
        "created_at": T0 - timedelta(seconds=waited),
    }


def test_standing_is_priority_plus_a_level_per_sla_waited() -> None:
    assert AGEING.standing(_ticket("voice", 3, 0), T0) == 3
    assert AGEING.standing(_ticket("voice", 3, 41), T0) == 5
    assert AGEING.standing(_ticket("text", 3, 41), T0) == 3
    assert AGEING.standing(_ticket("text", 3, 241), T0) == 5
    assert Ageing().standing(_ticket("voice", 3, 10_000), T0) == 3


def test_at_equal_standing_voice_comes_first_then_the_oldest() -> None:
    tickets = [
        _ticket("text", 5, 0, "text-new"),
        _ticket("voice", 5, 5, "voice-older"),
        _ticket("voice", 5, 1, "voice-newer"),
        _ticket("voice", 4, 19, "voice-lower"),  # not yet a level up
        _ticket("voice", 0, 101, "voice-aged"),  # five SLAs waited: standing 5
    ]
    ordered = [t["_id"] for t in sorted(tickets, key=AGEING.key(T0))]
    assert ordered == ["voice-aged", "voice-older", "voice-newer", "text-new", "voice-lower"]


@pytest.fixture
def store() -> TicketStore:
    tickets = TicketStore(mongomock.MongoClient(tz_aware=True)["test"])
    tickets.ensure_indexes()
    return tickets


def _flood(store: TicketStore, worker: TicketWorker, monkeypatch: pytest.MonkeyPatch) -> int | None:
    """One French speaker; a French ticket of priority 0, then every 10 s a new skill-free ticket
    of priority 5 that the same agent could take instead. The round the French one is served in,
    or None if it still waits after 30 rounds (five minutes)."""
    now = [T0]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    agent = add_agent(store, "fr", ["fr"])
    french = add_ticket(store, skills=["fr"], priority=0)
    current = add_ticket(store, priority=5)
    worker.assign(current)
    for round_ in range(1, 31):
        now[0] += timedelta(seconds=10)
        add_ticket(store, priority=5)
        assignment.finish(store, current, TicketStatus.COMPLETED)
        assert worker.pull(agent) == 1
        taken = store.tickets.find_one({"agent_id": agent, "status": "assigned"})
        assert taken is not None
        if taken["_id"] == french:
            return round_
        current = taken["_id"]
    return None


def test_a_scarce_skill_is_served_under_a_flood_of_higher_priority_tickets(
    store: TicketStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Five levels behind, at one level per 20 s of voice SLA: its turn comes after 100 s.
    assert _flood(store, TicketWorker(store, ageing=AGEING), monkeypatch) == 10


def test_without_ageing_the_scarce_skill_waits_for_ever(
    store: TicketStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _flood(store, TicketWorker(store), monkeypatch) is None
