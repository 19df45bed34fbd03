"""Answers to offers: a reserved ticket is accepted, rejected, or lapses back to the queue.

An offer ends in exactly one way: each ending is one conditional update that names the offer's
hold. Giving a ticket back goes in the order that keeps every crash repairable, as assigning
does: its queue entry is written first (a waiting ticket always has one, and it keeps the
ticket's creation time, so the ticket keeps its place by age), then the ticket moves
reserved → waiting, then the agent's hold is released (a crash before that leaves a hold whose
ticket waits: the sweep's to release, as any other).
"""

from __future__ import annotations

from datetime import datetime

from services.core.tickets.holds import parse_hold
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import Doc, TicketStore

REJECTED = "rejected"
TIMED_OUT = "timed_out"


def accept(store: TicketStore, ticket_id: str, agent_id: str) -> Doc | None:
    """reserved → assigned; None unless the ticket is on offer to this agent."""
    doc = store.accept(ticket_id, agent_id)
    if doc is not None:
        store.answered(agent_id)
    return doc


def reject(store: TicketStore, ticket_id: str, agent_id: str) -> Doc | None:
    """reserved → waiting, and this agent is not offered it again for the policy's cooldown;
    None unless the ticket is on offer to this agent."""
    ticket = store.get_ticket(ticket_id)
    if (
        ticket is None
        or ticket["status"] != TicketStatus.RESERVED
        or ticket["agent_id"] != agent_id
    ):
        return None
    back = give_back(store, ticket, REJECTED)
    if back is not None:
        store.answered(agent_id)
    return back


def expire(store: TicketStore, now: datetime) -> int:
    """Give back every offer past its time, counting a miss for its agent; how many."""
    lapsed = 0
    for ticket in store.lapsed_offers(now):
        if give_back(store, ticket, TIMED_OUT) is not None:
            store.count_miss(ticket["agent_id"], store.offers.misses_away)
            lapsed += 1
    return lapsed


def give_back(store: TicketStore, ticket: Doc, kind: str) -> Doc | None:
    """End the offer `ticket` shows (reserved as read) with `kind`; the ticket now waiting, or
    None if the offer had already ended otherwise (accepted, cancelled, given back)."""
    store.enqueue(ticket)
    back = store.unreserve(ticket, kind)
    if back is None:
        now = store.get_ticket(ticket["_id"])
        if now is None or now["status"] != TicketStatus.WAITING:
            store.dequeue(ticket["_id"])
        return None
    store.release(ticket["agent_id"], parse_hold(ticket["hold"]), finished=False)
    return back
