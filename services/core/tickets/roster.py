"""Adding agents and changing them: status, skills, name and per-channel capacity."""

from __future__ import annotations

from typing import Any

from services.core.errors import Conflict
from services.core.tickets.requests import AgentPatch, AgentRequest
from services.core.tickets.states import AgentStatus, active_field, capacity_field
from services.core.tickets.store import Doc, TicketStore, new_agent

# Conditional updates tried before giving up on an agent whose counters keep moving.
PATCH_ATTEMPTS = 20


class CapacityBelowActive(Conflict):
    """A capacity lower than the tickets the agent has on that channel right now."""

    def __init__(self, channel: str, active: int, capacity: int) -> None:
        super().__init__(
            f"channels.{channel}.capacity: the agent has {active} active {channel} tickets; "
            f"capacity cannot go below that (got {capacity})",
            field=f"channels.{channel}.capacity",
            active=active,
        )
        self.channel, self.active, self.capacity = channel, active, capacity


class AgentBusy(Conflict):
    """The agent kept changing under every attempt to update it."""

    def __init__(self) -> None:
        super().__init__("the agent kept changing; try again")


def create(store: TicketStore, request: AgentRequest) -> Doc:
    doc = new_agent(
        request.name,
        request.skills,
        request.channels.capacities(),
        request.status.value,
        request.auto_accept,
    )
    store.insert_agent(doc)
    return doc


def change(store: TicketStore, agent_id: str, patch: AgentPatch) -> tuple[Doc, bool] | None:
    """Apply the patch in one conditional update; the agent, and whether it may take more now.

    None for an unknown agent.
    """
    fields = _fields(patch)
    capacities = patch.channels.capacities() if patch.channels else {}
    for _ in range(PATCH_ATTEMPTS):
        agent = store.get_agent(agent_id)
        if agent is None:
            return None
        for channel, capacity in capacities.items():
            if agent[active_field(channel)] > capacity:
                raise CapacityBelowActive(channel, agent[active_field(channel)], capacity)
        changed = store.change_agent(agent, fields, capacities)
        if changed is not None:
            return changed, _may_take_more(agent, changed)
    raise AgentBusy()


def _fields(patch: AgentPatch) -> dict[str, Any]:
    """The plain fields the patch sets, as stored."""
    fields: dict[str, Any] = {}
    if patch.name is not None:
        fields["name"] = patch.name
    if patch.skills is not None:
        fields["skills"] = sorted(set(patch.skills))
    if patch.status is not None:
        fields["status"] = patch.status.value
    if patch.auto_accept is not None:
        fields["auto_accept"] = patch.auto_accept
    return fields


def _may_take_more(before: Doc, after: Doc) -> bool:
    """Whether the change can let the agent take tickets it could not take before."""
    if after["status"] != AgentStatus.AVAILABLE:
        return False
    return (
        before["status"] != AgentStatus.AVAILABLE
        or set(after["skills"]) - set(before["skills"]) != set()
        or any(after[capacity_field(c)] > before[capacity_field(c)] for c in ("voice", "text"))
    )
