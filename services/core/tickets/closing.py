"""Ending a ticket or an offer for a client: complete, cancel, reject it, then put the freed
capacity and the ticket back to work."""

from __future__ import annotations

from services.core.tickets import assignment, dispatch, reservations
from services.core.tickets.assignment import Finished
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import Doc, TicketStore


def close(store: TicketStore, ticket_id: str, becomes: TicketStatus) -> Finished | None:
    """Complete or cancel the ticket; None if its status does not allow that (or it is unknown).

    An agent given capacity back is asked to pull, when something waits for it.
    """
    finished = assignment.finish(store, ticket_id, becomes)
    # With nothing waiting there is nothing to pull; a ticket queued after this check is matched
    # by its own assignment, which runs after the capacity was given back.
    if finished is not None and finished.released and store.has_waiting():
        dispatch.nudge_pull(finished.ticket["agent_id"])
    return finished


def reject(store: TicketStore, ticket_id: str, agent_id: str) -> Doc | None:
    """Turn down the agent's offer (see `reservations.reject`); None if it is not on offer to it.

    The ticket is matched again (to another agent), and the agent pulls what else waits.
    """
    back = reservations.reject(store, ticket_id, agent_id)
    if back is not None:
        dispatch.nudge_assign(ticket_id, back["priority"])
        dispatch.nudge_pull(agent_id)
    return back
