"""Adding and changing agents for a client: the roster's change, then a pull if it can take more."""

from __future__ import annotations

from services.core.tickets import dispatch, roster
from services.core.tickets.requests import AgentPatch, AgentRequest
from services.core.tickets.states import AgentStatus
from services.core.tickets.store import Doc, TicketStore


def enroll(store: TicketStore, request: AgentRequest) -> Doc:
    """Add the agent; one that starts available is asked to pull what already waits."""
    doc = roster.create(store, request)
    if doc["status"] == AgentStatus.AVAILABLE:
        dispatch.nudge_pull(doc["_id"])
    return doc


def update(store: TicketStore, agent_id: str, patch: AgentPatch) -> Doc | None:
    """Apply the patch (see `roster.change`); None for an unknown agent.

    An agent the change lets take tickets it could not take before is asked to pull.
    """
    changed = roster.change(store, agent_id, patch)
    if changed is None:
        return None
    doc, may_take_more = changed
    if may_take_more:
        dispatch.nudge_pull(agent_id)
    return doc
