"""Matching tickets to agents, and giving capacity back, in steps that survive any crash.

Assigning touches two documents, so it goes in an order where every crash is repairable:

1. `reserve`: one conditional update takes a unit of the agent's capacity and records a hold
   naming the ticket (an agent that is no longer eligible is simply not matched);
2. `commit`: one conditional update moves the ticket waiting → assigned, naming the agent (or
   waiting → reserved, an offer, for an agent who answers offers: see `reservations`);
3. if 2 fails (the ticket was taken, cancelled, or its reservation voided), `release` the hold.

A crash after 1 leaves a hold whose ticket is not assigned to its agent; `sweep` voids such a
reservation (`fence`) and releases it. Ending a ticket is the reverse: the ticket moves to
completed or cancelled, then its hold is released, and a crash in between is again the sweep's.
Releases name the exact hold, so each happens once, however many processes race to do it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from services.core import clock
from services.core.tickets import escalation as escalation_rules
from services.core.tickets import matching, reservations
from services.core.tickets.candidates import QueueSnapshot, Snapshot
from services.core.tickets.holds import Hold, parse_hold
from services.core.tickets.matching import Strategy
from services.core.tickets.states import (
    CANCELLABLE,
    CHANNELS,
    FINISHED,
    HOLDING,
    AgentStatus,
    TicketStatus,
    free_field,
)
from services.core.tickets.store import Doc, TicketStore

log = logging.getLogger(__name__)
# Agents tried per round for a new ticket, and rounds before leaving it to later pulls.
CANDIDATES = 5
ASSIGN_ROUNDS = 5
# Queue entries read per round of a pull, and rounds at most (contention can make rounds idle).
PULL_BATCH = 20
PULL_ROUNDS = 50
# How long one sweep reuses its read of the queue.
SWEEP_QUEUE_AGE = 2.0
# Queue entries the sweep checks for staleness per run (only a crash leaves stale ones).
SWEEP_ENTRY_CHECKS = 50
# A queue entry whose ticket never appeared (its request died) is dropped after this long.
ORPHAN_ENTRY_AGE = timedelta(minutes=10)


class Assigned(Enum):
    ASSIGNED = "assigned"
    WAITING = "waiting"  # no eligible agent has free capacity: it waits for a pull
    GONE = "gone"  # no longer waiting (taken, cancelled) or unknown


def assign(store: TicketStore, ticket_id: str, strategy: Strategy, snapshot: Snapshot) -> Assigned:
    """Give a waiting ticket to the best eligible agent with free capacity, if there is one.

    Candidates come from the process's `snapshot` of the agents, not from a query per ticket.
    """
    for _ in range(ASSIGN_ROUNDS):
        ticket = store.get_ticket(ticket_id)
        if ticket is None or ticket["status"] != TicketStatus.WAITING:
            if ticket is not None:
                store.dequeue(ticket_id)
            return Assigned.GONE
        declined = ticket.get("declined", {})
        agents = snapshot.candidates(
            store,
            ticket["channel"],
            ticket["skills"],
            strategy,
            CANDIDATES + len(declined),
            ticket.get("preferred_skills", ()),
        )
        now = clock.now()
        agents = [a for a in agents if not matching.declined(ticket, a["_id"], now)]
        if not agents:
            return Assigned.WAITING
        if _assign_to_first(store, snapshot, ticket, agents):
            return Assigned.ASSIGNED
        # Every candidate was taken, or the ticket changed: read both again.
    return Assigned.WAITING


def _assign_to_first(
    store: TicketStore, snapshot: Snapshot, ticket: Doc, agents: list[Doc]
) -> bool:
    """Reserve the first candidate still eligible and commit; whether the ticket is assigned."""
    channel = ticket["channel"]
    for agent in agents:
        reserved = store.reserve(agent["_id"], ticket)
        if reserved is None:
            # Taken by someone else since the read: try the next best.
            snapshot.refused(agent["_id"], channel)
            continue
        snapshot.took(agent["_id"], channel)
        return _commit(store, ticket, reserved[1], reserved[0])
    return False


def _commit(store: TicketStore, ticket: Doc, agent: Doc, hold: Hold) -> bool:
    """Assign, or offer to an agent who answers offers; else give the hold back."""
    agent_id = agent["_id"]
    offer = not agent.get("auto_accept", True)
    if store.commit(ticket, agent_id, hold, offer=offer) is None:
        store.release(agent_id, hold, finished=False)
        return False
    store.dequeue(ticket["_id"])
    return True


def pull(store: TicketStore, agent_id: str, queue: QueueSnapshot) -> int:
    """Fill the agent's free capacity with the best waiting tickets it may take; how many.

    Candidates come from the `queue` snapshot, not from queries over the queue.
    """
    taken = 0
    agent = store.get_agent(agent_id)
    for _ in range(PULL_ROUNDS):
        channels = _free_channels(agent)
        if agent is None or not channels:
            break
        entries = queue.servable(store, agent, channels, PULL_BATCH)
        tried = _pull_round(store, agent, entries, queue)
        if tried is None:
            break  # nothing this agent can take now
        taken += tried.taken
        agent = tried.agent
    return taken


def _free_channels(agent: Doc | None) -> list[str]:
    if agent is None or agent["status"] != AgentStatus.AVAILABLE:
        return []
    return [c.value for c in CHANNELS if agent[free_field(c)] > 0]


@dataclass
class _Tried:
    taken: int
    agent: Doc | None  # the agent as it now is, when known
    gone: bool = False  # the ticket is no longer waiting
    skipped: bool = False  # this agent turned the ticket down lately; others may take it


def _pull_round(
    store: TicketStore, agent: Doc, entries: list[Doc], queue: QueueSnapshot
) -> _Tried | None:
    """Try the entries in order while the agent has room; None when nothing changed."""
    agent_id = agent["_id"]
    current: Doc | None = agent
    taken, changed = 0, False
    for entry in entries:
        if entry["channel"] not in _free_channels(current):
            continue
        tried = _try_entry(store, agent_id, entry)
        if _leaves_snapshot(tried):
            queue.drop(entry["_id"])
        if tried is None or tried.skipped:
            continue
        changed, taken, current = True, taken + tried.taken, tried.agent
        if not _free_channels(current):
            break
    return _Tried(taken, current) if changed else None


def _leaves_snapshot(tried: _Tried | None) -> bool:
    """Whether an entry this pull tried is done with for every later pull of the snapshot.

    One this agent turned down stays: the next agent's pull may take it."""
    if tried is None:
        return True
    return not tried.skipped and bool(tried.taken or tried.gone)


def _try_entry(store: TicketStore, agent_id: str, entry: Doc) -> _Tried | None:
    """Try to give the entry's ticket to the agent; None when nothing changed."""
    ticket = store.get_ticket(entry["_id"])
    if ticket is None:
        if clock.now() - entry["created_at"] > ORPHAN_ENTRY_AGE:
            store.dequeue(entry["_id"])
            return _Tried(0, store.get_agent(agent_id))
        return None
    if ticket["status"] != TicketStatus.WAITING:
        store.dequeue(entry["_id"])
        return _Tried(0, store.get_agent(agent_id), gone=True)
    if matching.declined(ticket, agent_id, clock.now()):
        return _Tried(0, None, skipped=True)
    reserved = store.reserve(agent_id, ticket)
    if reserved is None:
        return _Tried(0, store.get_agent(agent_id))  # the agent changed: look again
    hold, agent = reserved
    if _commit(store, ticket, agent, hold):
        return _Tried(1, agent)
    return _Tried(0, store.get_agent(agent_id))


def withdraw(store: TicketStore, ticket_id: str) -> bool:
    """Cancel a ticket that is still waiting (its publish failed); False if it was assigned."""
    if store.finish(ticket_id, TicketStatus.WAITING, TicketStatus.CANCELLED) is None:
        return False
    store.dequeue(ticket_id)
    return True


@dataclass
class Finished:
    ticket: Doc
    released: bool


def finish(store: TicketStore, ticket_id: str, becomes: TicketStatus) -> Finished | None:
    """Complete or cancel a ticket and give its agent the capacity back; None if not allowed."""
    sources = CANCELLABLE if becomes is TicketStatus.CANCELLED else (TicketStatus.ASSIGNED,)
    # An offer can be accepted meanwhile (reserved → assigned): cancelling tries both.
    for was in sources:
        doc = store.finish(ticket_id, was, becomes, abandoned=was is TicketStatus.WAITING)
        if doc is None:
            continue
        if was is TicketStatus.WAITING:
            store.dequeue(ticket_id)
            return Finished(doc, released=False)
        store.release(doc["agent_id"], parse_hold(doc["hold"]), finished=True)
        return Finished(doc, released=True)
    return None


@dataclass
class SweepReport:
    holds_released: int = 0
    entries_dropped: int = 0
    offers_lapsed: int = 0
    widened: int = 0
    assigned: int = 0


def sweep(
    store: TicketStore,
    hold_grace: float,
    ageing: matching.Ageing | None = None,
    escalation: escalation_rules.Rules | None = None,
) -> SweepReport:
    """Give back lapsed offers, repair what crashes left behind, widen tickets that waited too
    long, then let every agent with free capacity pull."""
    report = SweepReport()
    now = clock.now()
    report.offers_lapsed = reservations.expire(store, now)
    cutoff = now - timedelta(seconds=hold_grace)
    report.holds_released = _repair_holds(store, cutoff)
    report.entries_dropped = _drop_stale_entries(store, cutoff)
    entries = store.queue_entries()
    if not entries:
        return report
    if escalation:
        report.widened = escalation_rules.widen_due(store, escalation, entries, now)
    # One read of the queue serves every pull of this sweep.
    queue = QueueSnapshot(max_age=SWEEP_QUEUE_AGE, ageing=ageing)
    for agent in store.agents_with_free_capacity():
        if matching.best_ticket(entries, agent) is not None:
            report.assigned += pull(store, agent["_id"], queue)
    return report


def _repair_holds(store: TicketStore, cutoff: datetime) -> int:
    released = 0
    for agent in store.agents_holding_capacity():
        for text in agent["holds"]:
            hold = parse_hold(text)
            if hold.taken_at < cutoff and _repair_hold(store, agent["_id"], hold):
                released += 1
    return released


def _repair_hold(store: TicketStore, agent_id: str, hold: Hold) -> bool:
    """Release a hold that no assigned ticket stands behind; True if this call released it."""
    ticket = store.get_ticket(hold.ticket_id)
    waiting = ticket is not None and ticket["status"] == TicketStatus.WAITING
    # A reservation left halfway: void it first, so that its commit can never land after this.
    if waiting and not store.fence(hold.ticket_id):
        ticket = store.get_ticket(hold.ticket_id)
    if ticket is not None and ticket["status"] in HOLDING and ticket["hold"] == str(hold):
        return False  # the ticket holds it: in use (assigned, or on offer)
    finished = ticket is not None and ticket["status"] in FINISHED
    released = store.release(agent_id, hold, finished=finished)
    if released:
        log.warning("released a hold left behind: agent %s, %s", agent_id, hold)
    return released


def _drop_stale_entries(store: TicketStore, cutoff: datetime) -> int:
    """Queue entries whose ticket has left `waiting` (the dequeue after it did not happen)."""
    dropped = 0
    old = [e for e in store.queue_entries() if e["created_at"] < cutoff]
    oldest = sorted(old, key=lambda e: e["created_at"])[:SWEEP_ENTRY_CHECKS]
    for entry in oldest:
        ticket = store.get_ticket(entry["_id"])
        stale = ticket is not None and ticket["status"] != TicketStatus.WAITING
        orphan = ticket is None and clock.now() - entry["created_at"] > ORPHAN_ENTRY_AGE
        if stale or orphan:
            store.dequeue(entry["_id"])
            dropped += 1
    return dropped
