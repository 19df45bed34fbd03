"""Assignment, pulls, ending tickets and the sweep, on mongomock: the store's real queries."""

from datetime import timedelta

import mongomock
import pytest

from services.core import clock
from services.core.tickets import assignment, roster
from services.core.tickets.assignment import Assigned
from services.core.tickets.candidates import QueueSnapshot, Snapshot
from services.core.tickets.holds import new_hold, parse_hold
from services.core.tickets.matching import Strategy
from services.core.tickets.requests import AgentPatch, AgentRequest
from services.core.tickets.states import AgentStatus, TicketStatus
from services.core.tickets.store import TicketStore, agent_to_api, new_ticket, ticket_to_api
from tests.unit.ticket_worker import ManualClock, TicketWorker
from tools.oracles.ticket_invariants import check


@pytest.fixture
def store():
    db: mongomock.Database = mongomock.MongoClient(tz_aware=True)["test"]
    s = TicketStore(db)
    s.ensure_indexes()
    return s


@pytest.fixture
def worker(store):
    return TicketWorker(store)


def add_agent(store, name="a", skills=(), voice=1, text=0, status="available", idle_ago=0):
    request = AgentRequest.model_validate(
        {
            "name": name,
            "skills": list(skills),
            "channels": {"voice": {"capacity": voice}, "text": {"capacity": text}},
            "status": status,
        }
    )
    doc = roster.create(store, request)
    if idle_ago:
        at = clock.now() - timedelta(seconds=idle_ago)
        store.agents.update_one({"_id": doc["_id"]}, {"$set": {"last_freed_at": at}})
    return doc["_id"]


def add_ticket(store, channel="voice", skills=(), priority=5, age=0):
    doc = new_ticket(channel, list(skills), priority, {"customer": 1})
    if age:
        doc["created_at"] -= timedelta(seconds=age)
    store.insert_ticket(doc)
    return doc["_id"]


def snapshot(store):
    agents = [agent_to_api(a) for a in store.all_agents()]
    return agents, [ticket_to_api(t) for t in store.tickets.find({})]


def voice_use(store, agent_id):
    """The agent's free and active voice units, assignments counted, and holds."""
    agent = store.get_agent(agent_id)
    return agent["free_voice"], agent["active_voice"], agent["assigned_total"], agent["holds"]


def assert_invariants(store, settled=True):
    agents, tickets = snapshot(store)
    assert check(agents, tickets, settled=settled) == []


def test_a_new_ticket_goes_to_the_longest_idle_eligible_agent(store, worker):
    add_agent(store, "recent", ["en"], idle_ago=5)
    idle = add_agent(store, "idle", ["en"], idle_ago=60)
    add_agent(store, "idlest-but-french", ["fr"], idle_ago=600)
    tid = add_ticket(store, skills=["en"])
    assert worker.assign(tid) is Assigned.ASSIGNED
    ticket = store.get_ticket(tid)
    assert (ticket["status"], ticket["agent_id"]) == ("assigned", idle)
    assert store.queue_entries() == []
    agent = store.get_agent(idle)
    assert (agent["active_voice"], agent["free_voice"], agent["assigned_total"]) == (1, 0, 1)
    assert_invariants(store)


def test_least_busy_prefers_fewest_active_then_fewest_assigned(store):
    worker = TicketWorker(store, Strategy.LEAST_BUSY)
    busy = add_agent(store, "busy", text=3)
    calm = add_agent(store, "calm", text=3)
    first = add_ticket(store, "text")
    assert worker.assign(first) is Assigned.ASSIGNED
    first_agent = store.get_ticket(first)["agent_id"]
    second = add_ticket(store, "text")
    worker.assign(second)
    assert store.get_ticket(second)["agent_id"] != first_agent
    assert {first_agent, store.get_ticket(second)["agent_id"]} == {busy, calm}


def test_no_eligible_agent_means_the_ticket_waits(store, worker):
    add_agent(store, "away", ["en"], status="away")
    add_agent(store, "french", ["fr"])
    add_agent(store, "text only", ["en"], voice=0, text=2)
    tid = add_ticket(store, skills=["en"])
    assert worker.assign(tid) is Assigned.WAITING
    assert store.get_ticket(tid)["status"] == "waiting"
    assert [e["_id"] for e in store.queue_entries()] == [tid]
    assert_invariants(store)


def test_capacity_is_never_exceeded(store, worker):
    aid = add_agent(store, text=2)
    tickets = [add_ticket(store, "text") for _ in range(4)]
    outcomes = [worker.assign(t) for t in tickets]
    assert outcomes.count(Assigned.ASSIGNED) == 2
    assert store.get_agent(aid)["free_text"] == 0
    assert_invariants(store)


def test_completing_frees_capacity_and_the_agent_pulls_the_best_waiting_ticket(store, worker):
    aid = add_agent(store, skills=["en"], voice=1, text=1)
    busy_voice = add_ticket(store, "voice")
    busy_text = add_ticket(store, "text")
    for t in (busy_voice, busy_text):
        worker.assign(t)
    old_text = add_ticket(store, "text", age=100)
    voice = add_ticket(store, "voice", age=10)
    urgent_fr = add_ticket(store, "voice", skills=["fr"], priority=9)
    for t in (old_text, voice, urgent_fr):
        assert worker.assign(t) is Assigned.WAITING
    before = store.get_agent(aid)["last_freed_at"]

    done = assignment.finish(store, busy_voice, TicketStatus.COMPLETED)
    assert done is not None and done.released
    assert store.get_agent(aid)["last_freed_at"] >= before
    assert worker.pull(aid) == 1
    assert store.get_ticket(voice)["status"] == "assigned"  # not the French one: no skill
    done = assignment.finish(store, busy_text, TicketStatus.CANCELLED)
    assert done is not None and done.released
    assert worker.pull(aid) == 1
    assert store.get_ticket(old_text)["status"] == "assigned"
    assert store.get_ticket(urgent_fr)["status"] == "waiting"
    assert_invariants(store)


def test_pull_takes_voice_first_when_only_one_unit_is_free(store, worker):
    aid = add_agent(store, voice=1, text=1, status="away")
    text = add_ticket(store, "text", age=50)
    voice = add_ticket(store, "voice")
    roster.change(store, aid, AgentPatch.model_validate({"channels": {"text": {"capacity": 0}}}))
    roster.change(store, aid, AgentPatch(status=AgentStatus.AVAILABLE))
    assert worker.pull(aid) == 1
    assert store.get_ticket(voice)["status"] == "assigned"
    assert store.get_ticket(text)["status"] == "waiting"


def test_away_agents_keep_their_tickets_but_get_no_new_ones(store, worker):
    aid = add_agent(store, text=2)
    first = add_ticket(store, "text")
    worker.assign(first)
    roster.change(store, aid, AgentPatch(status=AgentStatus.AWAY))
    second = add_ticket(store, "text")
    assert worker.assign(second) is Assigned.WAITING
    assert worker.pull(aid) == 0
    assert store.get_ticket(first)["status"] == "assigned"
    assert assignment.finish(store, first, TicketStatus.COMPLETED) is not None
    assert_invariants(store)


def test_a_ticket_taken_meanwhile_gives_the_reserved_capacity_back(store):
    aid = add_agent(store)
    tid = add_ticket(store)
    ticket = store.get_ticket(tid)
    hold, _ = store.reserve(aid, ticket)
    assert store.get_agent(aid)["free_voice"] == 0
    assignment.finish(store, tid, TicketStatus.CANCELLED)  # the customer hung up
    assert store.commit(ticket, aid, hold) is None
    assert store.release(aid, hold, finished=False)
    assert not store.release(aid, hold, finished=False)  # once only
    assert voice_use(store, aid) == (1, 0, 0, [])  # as if never reserved
    assert_invariants(store)


@pytest.mark.parametrize("serve", ["assign", "pull"])
def test_a_commit_that_fails_gives_the_reserved_capacity_back(store, worker, monkeypatch, serve):
    aid = add_agent(store)
    tid = add_ticket(store)
    reserve = store.reserve

    def reserve_then_hang_up(agent_id, ticket):
        reserved = reserve(agent_id, ticket)
        assignment.finish(store, ticket["_id"], TicketStatus.CANCELLED)  # between the two steps
        return reserved

    monkeypatch.setattr(store, "reserve", reserve_then_hang_up)
    if serve == "assign":
        assert worker.assign(tid) is Assigned.GONE
    else:
        assert worker.pull(aid) == 0
    assert voice_use(store, aid) == (1, 0, 0, [])  # as if never reserved
    assert store.get_ticket(tid)["status"] == "cancelled"
    assert_invariants(store)


def test_the_sweep_releases_a_reservation_left_by_a_dead_worker_and_voids_it(store):
    aid = add_agent(store)
    tid = add_ticket(store)
    ticket = store.get_ticket(tid)
    hold, _ = store.reserve(aid, ticket)  # ...and the worker dies here
    agents, tickets = snapshot(store)
    assert check(agents, tickets, settled=True) != []
    assert assignment.sweep(store, hold_grace=60).holds_released == 0  # too young to judge
    old = new_hold(tid, "voice", clock.now() - timedelta(seconds=120))
    store.agents.update_one({"_id": aid}, {"$set": {"holds": [str(old)]}})
    report = assignment.sweep(store, hold_grace=60)
    assert report.holds_released == 1
    assert report.assigned == 1  # and the freed agent took the ticket at once
    assert store.commit(ticket, aid, hold) is None  # a late commit of the dead worker fails
    assert store.get_ticket(tid)["agent_id"] == aid
    assert_invariants(store)


def test_the_sweep_releases_capacity_of_a_ticket_ended_before_its_release(store, worker):
    aid = add_agent(store)
    tid = add_ticket(store)
    worker.assign(tid)
    store.finish(tid, TicketStatus.ASSIGNED, TicketStatus.COMPLETED)  # ...crash before release
    hold = parse_hold(store.get_ticket(tid)["hold"])
    old = new_hold(tid, "voice", clock.now() - timedelta(seconds=120))
    store.tickets.update_one({"_id": tid}, {"$set": {"hold": str(old)}})
    store.agents.update_one({"_id": aid}, {"$set": {"holds": [str(old)]}})
    assert hold.ticket_id == tid
    assert assignment.sweep(store, hold_grace=60).holds_released == 1
    assert store.get_agent(aid)["free_voice"] == 1
    assert_invariants(store)


def test_the_sweep_keeps_holds_of_assigned_tickets_and_drops_stale_queue_entries(store, worker):
    aid = add_agent(store)
    tid = add_ticket(store)
    worker.assign(tid)
    store.queue.insert_one(
        {
            "_id": tid,
            **{
                k: store.get_ticket(tid)[k]
                for k in ("channel", "skills", "priority", "rank", "created_at")
            },
        }
    )
    report = assignment.sweep(store, hold_grace=-1)
    assert (report.holds_released, report.entries_dropped) == (0, 1)
    assert store.get_agent(aid)["active_voice"] == 1
    assert_invariants(store)


def test_the_sweep_matches_tickets_whose_assign_message_was_lost(store):
    tid = add_ticket(store, "text", skills=["en"])
    aid = add_agent(store, skills=["en"], voice=0, text=1)
    assert assignment.sweep(store, hold_grace=10).assigned == 1
    assert store.get_ticket(tid)["agent_id"] == aid


def test_capacity_cannot_go_below_active(store, worker):
    aid = add_agent(store, text=3)
    for _ in range(2):
        worker.assign(add_ticket(store, "text"))
    with pytest.raises(roster.CapacityBelowActive):
        roster.change(
            store, aid, AgentPatch.model_validate({"channels": {"text": {"capacity": 1}}})
        )
    changed = roster.change(
        store, aid, AgentPatch.model_validate({"channels": {"text": {"capacity": 2}}})
    )
    assert changed is not None
    doc, more = changed
    assert (doc["capacity_text"], doc["active_text"], doc["free_text"], more) == (2, 2, 0, False)
    changed = roster.change(
        store, aid, AgentPatch.model_validate({"channels": {"text": {"capacity": 5}}})
    )
    assert changed is not None
    doc, more = changed
    assert (doc["free_text"], more) == (3, True)
    assert roster.change(store, "nobody", AgentPatch(status=AgentStatus.AWAY)) is None
    assert_invariants(store)


def test_ending_tickets_follows_the_state_machine(store, worker):
    add_agent(store)
    tid = add_ticket(store)
    assert assignment.finish(store, tid, TicketStatus.COMPLETED) is None  # waiting: not yet
    worker.assign(tid)
    assert assignment.finish(store, tid, TicketStatus.COMPLETED) is not None
    assert assignment.finish(store, tid, TicketStatus.COMPLETED) is None
    assert assignment.finish(store, tid, TicketStatus.CANCELLED) is None
    waiting = add_ticket(store)
    cancelled = assignment.finish(store, waiting, TicketStatus.CANCELLED)
    assert cancelled is not None and not cancelled.released
    assert store.queue_entries() == []
    assert_invariants(store)


def test_a_snapshot_orders_candidates_and_stale_entries_only_cost_a_retry(store):
    clock_ = ManualClock()
    snapshot = Snapshot(max_age=1.0, now=clock_)
    idlest = add_agent(store, "idlest", idle_ago=100)
    other = add_agent(store, "other", idle_ago=50)
    first = add_ticket(store)
    assert assignment.assign(store, first, Strategy.LONGEST_IDLE, snapshot) is Assigned.ASSIGNED
    assert store.get_ticket(first)["agent_id"] == idlest
    # Behind the snapshot's back, `other` goes away: the snapshot still offers it.
    store.agents.update_one({"_id": other}, {"$set": {"status": "away"}})
    second = add_ticket(store)
    assert assignment.assign(store, second, Strategy.LONGEST_IDLE, snapshot) is Assigned.WAITING
    assert store.get_agent(other)["holds"] == []
    # Capacity freed elsewhere shows up once the snapshot is old enough to be read again.
    assignment.finish(store, first, TicketStatus.COMPLETED)
    assert assignment.assign(store, second, Strategy.LONGEST_IDLE, snapshot) is Assigned.WAITING
    clock_.t = 2.0
    assert assignment.assign(store, second, Strategy.LONGEST_IDLE, snapshot) is Assigned.ASSIGNED
    assert store.get_ticket(second)["agent_id"] == idlest
    assert_invariants(store)


def test_a_pull_from_a_queue_snapshot_skips_entries_whose_ticket_moved_on(store):
    clock_ = ManualClock()
    queue = QueueSnapshot(max_age=10.0, now=clock_)
    aid = add_agent(store, voice=1, status="away")
    gone = add_ticket(store, priority=9)
    best = add_ticket(store, priority=5)
    queue.servable(store, store.get_agent(aid), ["voice"], 10)  # read now, before the cancel
    assignment.finish(store, gone, TicketStatus.CANCELLED)
    roster.change(store, aid, AgentPatch(status=AgentStatus.AVAILABLE))
    assert assignment.pull(store, aid, queue) == 1
    assert store.get_ticket(best)["agent_id"] == aid
    assert queue.servable(store, store.get_agent(aid), ["voice"], 10) == []
    assert_invariants(store)


def test_a_snapshot_offers_eligible_agents_best_first(store):
    idle = add_agent(store, "idle", ["en"], idle_ago=60)
    recent = add_agent(store, "recent", ["en", "fr"], idle_ago=5)
    add_agent(store, "away", ["en"], status="away", idle_ago=600)
    add_agent(store, "text only", ["en"], voice=0, text=1, idle_ago=600)
    snapshot = Snapshot(max_age=1.0, now=ManualClock())

    def offered(skills, limit=5):
        found = snapshot.candidates(store, "voice", skills, Strategy.LONGEST_IDLE, limit)
        return [a["_id"] for a in found]

    assert offered(["en"]) == [idle, recent]
    assert offered(["fr"]) == [recent]
    assert offered([], limit=1) == [idle]


def test_a_snapshot_counts_what_its_process_took_and_refused_until_the_next_read(store, worker):
    idlest = add_agent(store, "idlest", idle_ago=100)
    other = add_agent(store, "other", idle_ago=50)
    gone = add_agent(store, "gone", idle_ago=10)

    def offered():
        found = worker.snapshot.candidates(store, "voice", [], Strategy.LONGEST_IDLE, 5)
        return [a["_id"] for a in found]

    first = add_ticket(store)
    assert worker.assign(first) is Assigned.ASSIGNED
    assert store.get_ticket(first)["agent_id"] == idlest
    assert offered() == [other, gone]  # the unit it took is not offered again
    # Behind the snapshot's back `other` goes away: one refusal and it is not offered again.
    store.agents.update_one({"_id": other}, {"$set": {"status": "away"}})
    snapshot_assign = assignment.assign(
        store, add_ticket(store), Strategy.LONGEST_IDLE, worker.snapshot
    )
    assert snapshot_assign is Assigned.ASSIGNED
    assert offered() == []
    assert store.get_agent(gone)["active_voice"] == 1
