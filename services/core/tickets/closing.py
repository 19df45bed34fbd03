"""Ending a ticket for a client: complete or cancel it, then let its agent take the next one."""

from __future__ import annotations

from services.core.tickets import assignment, dispatch
from services.core.tickets.assignment import Finished
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import TicketStore


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
