"""The sweep: what it repairs after a crash, what it must leave alone, and what it reports."""

from datetime import timedelta

import mongomock
import pytest

from services.core import clock
from services.core.tickets import assignment
from services.core.tickets.holds import new_hold, parse_hold
from services.core.tickets.matching import Ageing
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import TicketStore
from tests.unit.test_tickets_assignment import add_agent, add_ticket, assert_invariants
from tests.unit.ticket_worker import TicketWorker


@pytest.fixture
def store() -> TicketStore:
    s = TicketStore(mongomock.MongoClient(tz_aware=True)["test"])
    s.ensure_indexes()
    return s


def leave_old_reservation(store: TicketStore, agent_id: str, ticket_id: str) -> None:
    """A reservation a dead worker made two minutes ago and never committed."""
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    store.reserve(agent_id, ticket)
    old = new_hold(ticket_id, ticket["channel"], clock.now() - timedelta(seconds=120))
    store.agents.update_one({"_id": agent_id}, {"$set": {"holds": [str(old)]}})


def test_a_voided_reservation_is_undone_and_its_late_commit_fails(store):
    aid = add_agent(store)
    tid = add_ticket(store)
    ticket = store.get_ticket(tid)
    leave_old_reservation(store, aid, tid)
    hold = store.get_agent(aid)["holds"][0]
    store.agents.update_one({"_id": aid}, {"$set": {"status": "away"}})  # so it pulls nothing
    before = store.get_agent(aid)
    assert assignment.sweep(store, hold_grace=60).holds_released == 1
    agent = store.get_agent(aid)
    # Undone, not ended: no assignment counted, the agent not idle since now.
    assert (agent["free_voice"], agent["active_voice"], agent["assigned_total"]) == (1, 0, 0)
    assert agent["last_freed_at"] == before["last_freed_at"]
    # The dead worker's commit, arriving late, cannot assign the ticket on a released hold.
    assert store.commit(ticket, aid, parse_hold(hold)) is None
    assert store.get_ticket(tid)["status"] == "waiting"
    assert_invariants(store)


def test_a_reservation_committed_while_the_sweep_judges_it_is_kept(store, monkeypatch):
    aid = add_agent(store)
    tid = add_ticket(store)
    ticket = store.get_ticket(tid)
    leave_old_reservation(store, aid, tid)
    hold_text = store.get_agent(aid)["holds"][0]
    fence = store.fence

    def commit_first(ticket_id: str) -> bool:
        store.commit(ticket, aid, parse_hold(hold_text))  # the slow worker wins the race
        return fence(ticket_id)

    monkeypatch.setattr(store, "fence", commit_first)
    assert assignment.sweep(store, hold_grace=60).holds_released == 0
    assert store.get_ticket(tid)["agent_id"] == aid
    assert store.get_agent(aid)["holds"] == [hold_text]
    assert_invariants(store)


def test_a_hold_whose_ticket_never_appeared_is_released(store):
    aid = add_agent(store)
    old = new_hold("never-inserted", "voice", clock.now() - timedelta(seconds=120))
    store.agents.update_one(
        {"_id": aid},
        {"$set": {"holds": [str(old)], "free_voice": 0, "active_voice": 1, "assigned_total": 1}},
    )
    assert assignment.sweep(store, hold_grace=60).holds_released == 1
    agent = store.get_agent(aid)
    assert (agent["free_voice"], agent["active_voice"], agent["assigned_total"]) == (1, 0, 0)


def test_a_hold_of_a_ticket_that_ended_is_released_as_finished(store):
    aid = add_agent(store)
    tid = add_ticket(store)
    TicketWorker(store).assign(tid)
    store.finish(
        tid, TicketStatus.ASSIGNED, TicketStatus.COMPLETED
    )  # ...and the process died before the release
    store.agents.update_one({"_id": aid}, {"$set": {"last_freed_at": clock.now() - timedelta(1)}})
    old = new_hold(tid, "voice", clock.now() - timedelta(seconds=120))
    store.tickets.update_one({"_id": tid}, {"$set": {"hold": str(old)}})
    store.agents.update_one({"_id": aid}, {"$set": {"holds": [str(old)]}})
    assert assignment.sweep(store, hold_grace=60).holds_released == 1
    agent = store.get_agent(aid)
    # Ended, so the assignment still counts and the agent is idle from now.
    assert (agent["free_voice"], agent["assigned_total"]) == (1, 1)
    assert clock.now() - agent["last_freed_at"] < timedelta(minutes=1)
    assert_invariants(store)


def test_the_sweep_counts_every_hold_released_and_every_ticket_assigned(store):
    agents = [add_agent(store, name) for name in ("a", "b")]
    tickets = [add_ticket(store) for _ in agents]
    for aid, tid in zip(agents, tickets, strict=True):
        leave_old_reservation(store, aid, tid)
    report = assignment.sweep(store, hold_grace=60)
    assert (report.holds_released, report.assigned) == (2, 2)
    assert {store.get_ticket(t)["agent_id"] for t in tickets} == set(agents)
    assert_invariants(store)


def test_the_sweeps_pulls_order_the_queue_by_standing(store):
    aid = add_agent(store, voice=0, text=1)
    old = add_ticket(store, "text", priority=1, age=600)
    add_ticket(store, "text", priority=9)
    # Ten minutes at a 60 s SLA, 1 level each: the old ticket stands at 11, above the new 9.
    ageing = Ageing(sla={"text": 60.0}, per_sla=1.0)
    assert assignment.sweep(store, hold_grace=60, ageing=ageing).assigned == 1
    assert store.get_ticket(old)["agent_id"] == aid


def stale_entry(store: TicketStore, ticket_id: str, age: float) -> None:
    """Put back the queue entry of a ticket that has left `waiting`, as a crash would leave it."""
    ticket = store.get_ticket(ticket_id)
    fields = ("channel", "skills", "priority", "rank")
    created = clock.now() - timedelta(seconds=age)
    store.queue.insert_one(
        {"_id": ticket_id, "created_at": created, **{k: ticket[k] for k in fields}}
    )


def test_the_sweep_drops_entries_of_tickets_that_left_the_queue_and_counts_them(store):
    ended = [add_ticket(store) for _ in range(2)]
    for tid in ended:
        assignment.withdraw(store, tid)
        stale_entry(store, tid, age=120)
    assert assignment.sweep(store, hold_grace=60).entries_dropped == 2
    assert store.queue_entries() == []


def test_the_sweep_checks_the_oldest_entries_first(store, monkeypatch):
    monkeypatch.setattr(assignment, "SWEEP_ENTRY_CHECKS", 1)
    older = add_ticket(store, priority=1)
    newer = add_ticket(store, priority=9)  # first in the queue's own order
    for tid, age in ((older, 300), (newer, 200)):
        assignment.withdraw(store, tid)
        stale_entry(store, tid, age)
    assert assignment.sweep(store, hold_grace=60).entries_dropped == 1
    assert [e["_id"] for e in store.queue_entries()] == [newer]


def test_an_entry_whose_ticket_never_appeared_is_dropped_only_after_a_while(store):
    now = clock.now()
    for name, minutes in (("orphan-old", 11), ("orphan-young", 5)):
        entry = {"_id": name, "channel": "voice", "skills": [], "priority": 5, "rank": 0}
        store.queue.insert_one({**entry, "created_at": now - timedelta(minutes=minutes)})
    assert assignment.sweep(store, hold_grace=60).entries_dropped == 1
    # The young one may be a ticket whose insert is still on its way: it stays.
    assert [e["_id"] for e in store.queue_entries()] == ["orphan-young"]
