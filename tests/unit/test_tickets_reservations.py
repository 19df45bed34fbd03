"""Reservations on mongomock: offers, accept, reject, lapsing offers, misses → away."""

from datetime import timedelta

import pytest

from services.core.tickets import assignment, reservations, roster
from services.core.tickets.assignment import Assigned
from services.core.tickets.offers import OfferPolicy
from services.core.tickets.requests import AgentPatch
from services.core.tickets.states import AgentStatus, TicketStatus
from services.core.tickets.store import TicketStore, agent_to_api, new_ticket, ticket_to_api
from tests.unit.ticket_offers import Clock, add_agent, mongomock_store, stopped_clock
from tests.unit.ticket_worker import TicketWorker
from tools.oracles.ticket_invariants import check

POLICY = OfferPolicy(timeout=30.0, misses_away=2, cooldown=120.0)
GRACE = 10.0


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stopped_clock(monkeypatch)


@pytest.fixture
def store(now: Clock) -> TicketStore:
    return mongomock_store(POLICY)


@pytest.fixture
def worker(store: TicketStore) -> TicketWorker:
    return TicketWorker(store)


def add_ticket(store: TicketStore, skills=()) -> str:
    doc = new_ticket("voice", list(skills), 5, None)
    store.insert_ticket(doc)
    return doc["_id"]


def events(store: TicketStore, ticket_id: str) -> list[tuple[str, str | None]]:
    doc = store.get_ticket(ticket_id)
    assert doc is not None
    return [(e["event"], e["agent_id"]) for e in doc["timeline"]]


def violations(store: TicketStore, settled: bool = False) -> list:
    agents = [agent_to_api(a) for a in store.all_agents()]
    tickets = [ticket_to_api(t) for t in store.tickets.find({})]
    return check(agents, tickets, settled=settled)


def voice(store: TicketStore, agent_id: str) -> dict:
    doc = store.get_agent(agent_id)
    assert doc is not None
    return agent_to_api(doc)["channels"]["voice"]


def test_an_agent_that_accepts_automatically_is_assigned_at_once(store, worker) -> None:
    agent = add_agent(store, auto_accept=True)
    ticket = add_ticket(store)
    assert worker.assign(ticket) is Assigned.ASSIGNED
    doc = store.get_ticket(ticket)
    assert doc["status"] == TicketStatus.ASSIGNED and doc["agent_id"] == agent
    assert events(store, ticket) == [("assigned", agent)]


def test_an_agent_that_must_answer_gets_an_offer_holding_capacity(store, worker, now) -> None:
    agent = add_agent(store, auto_accept=False)
    ticket = add_ticket(store)
    assert worker.assign(ticket) is Assigned.ASSIGNED
    doc = store.get_ticket(ticket)
    assert doc["status"] == TicketStatus.RESERVED and doc["agent_id"] == agent
    assert doc["reserved_until"] == now.now + timedelta(seconds=POLICY.timeout)
    assert doc["assigned_at"] is None
    assert voice(store, agent) == {"capacity": 1, "active": 1, "free": 0}
    assert store.queue.find_one({"_id": ticket}) is None
    assert violations(store, settled=True) == []
    # A second ticket finds no room: the offer holds the agent's only unit.
    assert worker.assign(add_ticket(store)) is Assigned.WAITING


def test_accepting_assigns_and_ends_the_run_of_misses(store, worker) -> None:
    agent = add_agent(store, auto_accept=False)
    store.agents.update_one({"_id": agent}, {"$set": {"missed_offers": 1}})
    ticket = add_ticket(store)
    worker.assign(ticket)
    accepted = reservations.accept(store, ticket, agent)
    assert accepted is not None and accepted["status"] == TicketStatus.ASSIGNED
    assert accepted["assigned_at"] is not None and accepted["reserved_until"] is None
    assert events(store, ticket) == [("offered", agent), ("accepted", agent)]
    assert store.get_agent(agent)["missed_offers"] == 0
    assert voice(store, agent)["active"] == 1
    # Answered once: neither a second accept nor a reject applies any more.
    assert reservations.accept(store, ticket, agent) is None
    assert reservations.reject(store, ticket, agent) is None


def test_only_the_agent_offered_the_ticket_can_answer(store, worker) -> None:
    add_agent(store, auto_accept=False)
    other = add_agent(store, auto_accept=True, name="b")
    store.agents.update_one({"_id": other}, {"$set": {"status": "away"}})
    ticket = add_ticket(store)
    worker.assign(ticket)
    assert reservations.accept(store, ticket, other) is None
    assert reservations.reject(store, ticket, other) is None
    assert store.get_ticket(ticket)["status"] == TicketStatus.RESERVED


def test_a_rejected_ticket_returns_to_its_place_and_skips_that_agent(store, worker, now) -> None:
    shy = add_agent(store, auto_accept=False, idle_ago=100)
    ticket = add_ticket(store)
    created = store.get_ticket(ticket)["created_at"]
    worker.assign(ticket)
    now.advance(5)
    back = reservations.reject(store, ticket, shy)
    assert back is not None and back["status"] == TicketStatus.WAITING
    assert back["agent_id"] is None and back["hold"] is None
    assert events(store, ticket) == [("offered", shy), ("rejected", shy)]
    assert voice(store, shy) == {"capacity": 1, "active": 0, "free": 1}
    assert store.queue.find_one({"_id": ticket})["created_at"] == created
    # Not offered to the same agent again while the cooldown lasts, by assignment or by pull.
    assert worker.assign(ticket) is Assigned.WAITING
    assert worker.pull(shy) == 0
    assert violations(store, settled=True) == []
    # Another agent gets it.
    other = add_agent(store, auto_accept=True, name="b")
    assert worker.assign(ticket) is Assigned.ASSIGNED
    assert store.get_ticket(ticket)["agent_id"] == other


def test_after_the_cooldown_the_rejecting_agent_may_be_offered_it_again(store, worker, now) -> None:
    agent = add_agent(store, auto_accept=False)
    ticket = add_ticket(store)
    worker.assign(ticket)
    reservations.reject(store, ticket, agent)
    now.advance(POLICY.cooldown - 1)
    assert worker.pull(agent) == 0
    now.advance(2)
    assert worker.pull(agent) == 1
    assert store.get_ticket(ticket)["status"] == TicketStatus.RESERVED


def test_an_offer_with_no_answer_lapses_back_to_the_queue(store, worker, now) -> None:
    agent = add_agent(store, auto_accept=False)
    ticket = add_ticket(store)
    worker.assign(ticket)
    now.advance(POLICY.timeout - 1)
    report = assignment.sweep(store, GRACE)
    # Older than the hold grace, but the offer holds it: not released, not lapsed yet.
    assert (report.offers_lapsed, report.holds_released) == (0, 0)
    assert store.get_ticket(ticket)["status"] == TicketStatus.RESERVED
    now.advance(2)
    assert assignment.sweep(store, GRACE).offers_lapsed == 1
    doc = store.get_ticket(ticket)
    assert doc["status"] == TicketStatus.WAITING and doc["agent_id"] is None
    assert events(store, ticket) == [("offered", agent), ("timed_out", agent)]
    assert voice(store, agent)["free"] == 1
    assert store.get_agent(agent)["missed_offers"] == 1
    assert store.queue.find_one({"_id": ticket}) is not None
    # Too late to accept.
    assert reservations.accept(store, ticket, agent) is None
    assert violations(store, settled=True) == []


def test_misses_in_a_row_send_the_agent_away(store, worker, now) -> None:
    agent = add_agent(store, auto_accept=False)
    for _ in range(POLICY.misses_away):
        assert store.get_agent(agent)["status"] == AgentStatus.AVAILABLE
        ticket = add_ticket(store)
        worker.assign(ticket)
        assert store.get_ticket(ticket)["agent_id"] == agent
        now.advance(POLICY.timeout + 1)
        assert assignment.sweep(store, GRACE).offers_lapsed == 1
    doc = store.get_agent(agent)
    assert doc["status"] == AgentStatus.AWAY and doc["missed_offers"] == 0
    assert violations(store, settled=True) == []


def test_an_answer_between_misses_starts_the_count_again(store, worker, now) -> None:
    agent = add_agent(store, auto_accept=False)
    first = add_ticket(store)
    worker.assign(first)
    now.advance(POLICY.timeout + 1)
    assignment.sweep(store, GRACE)
    now.advance(POLICY.cooldown + 1)
    worker.pull(agent)
    assert reservations.reject(store, first, agent) is not None
    second = add_ticket(store)
    worker.assign(second)
    now.advance(POLICY.timeout + 1)
    assignment.sweep(store, GRACE)
    doc = store.get_agent(agent)
    assert doc["status"] == AgentStatus.AVAILABLE and doc["missed_offers"] == 1


def test_cancelling_an_offer_gives_the_capacity_back(store, worker) -> None:
    agent = add_agent(store, auto_accept=False)
    ticket = add_ticket(store)
    worker.assign(ticket)
    finished = assignment.finish(store, ticket, TicketStatus.CANCELLED)
    assert finished is not None and finished.released
    assert voice(store, agent)["free"] == 1
    assert assignment.finish(store, ticket, TicketStatus.COMPLETED) is None
    assert violations(store, settled=True) == []


def test_a_crash_after_the_ticket_went_back_leaves_a_hold_the_sweep_releases(
    store, worker, now
) -> None:
    agent = add_agent(store, auto_accept=False)
    ticket = add_ticket(store)
    worker.assign(ticket)
    offered = store.get_ticket(ticket)
    store.enqueue(offered)
    store.unreserve(offered, reservations.REJECTED)  # …and the release never happens
    assert voice(store, agent)["active"] == 1
    now.advance(GRACE + 1)
    assert assignment.sweep(store, GRACE).holds_released == 1
    assert voice(store, agent)["active"] == 0
    assert violations(store, settled=True) == []


def test_patching_auto_accept_turns_offers_on(store, worker) -> None:
    agent = add_agent(store, auto_accept=True)
    changed = roster.change(store, agent, AgentPatch.model_validate({"auto_accept": False}))
    assert changed is not None and agent_to_api(changed[0])["auto_accept"] is False
    ticket = add_ticket(store)
    worker.assign(ticket)
    assert store.get_ticket(ticket)["status"] == TicketStatus.RESERVED


def test_lapsed_offers_are_read_through_a_partial_index_of_offers(store) -> None:
    index = store.tickets.index_information()["offers_open"]
    assert index["key"] == [("reserved_until", 1)]
    # Equality: secantusd-rs ignores a partial index whose filter uses `$in`.
    assert index["partialFilterExpression"] == {"status": "reserved"}


def test_the_oracle_counts_offers_against_capacity() -> None:
    agent = {
        "id": "a" * 24,
        "status": "available",
        "skills": [],
        "tickets": ["1" * 24],
        "channels": {"voice": {"capacity": 1, "active": 1, "free": 0}},
    }
    offered = {
        "id": "1" * 24,
        "status": "reserved",
        "agent_id": agent["id"],
        "channel": "voice",
        "skills": [],
    }
    assert check([agent], [offered], settled=True) == []
    second = {**offered, "id": "2" * 24}
    rules = [v.rule for v in check([agent], [offered, second])]
    assert "capacity" in rules and "single agent" in rules
    unheld = {
        **agent,
        "tickets": [],
        "channels": {"voice": {"capacity": 1, "active": 0, "free": 1}},
    }
    assert [v.rule for v in check([unheld], [offered])] == ["single agent"]
    other = {**agent, "id": "b" * 24}
    assert [v.rule for v in check([agent, other], [offered], settled=True)] == ["single agent"]


def test_the_sweep_gives_a_rejected_ticket_to_another_agent(store, worker) -> None:
    shy = add_agent(store, auto_accept=False, idle_ago=100)
    ticket = add_ticket(store)
    worker.assign(ticket)
    other = add_agent(store, auto_accept=True, name="b")  # joins while the offer stands
    reservations.reject(store, ticket, shy)
    # The rejecting agent pulls first in the sweep (it was idle longest, and listed first):
    # skipping the ticket must not hide it from the next agent's pull.
    assert assignment.sweep(store, GRACE).assigned == 1
    assert store.get_ticket(ticket)["agent_id"] == other
