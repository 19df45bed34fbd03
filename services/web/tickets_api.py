"""The agents and tickets API: agents to create, read and change; tickets to submit and end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from services.core import clock
from services.core.apikeys import Scope
from services.core.errors import Conflict, InvalidRequest
from services.core.tickets import closing, intake, reservations, staffing, stats
from services.core.tickets.requests import AgentPatch, AgentRequest, TicketRequest
from services.core.tickets.states import AgentStatus, Channel, TicketStatus
from services.core.tickets.store import (
    Doc,
    TicketStore,
    agent_to_api,
    ticket_to_api,
)
from services.web.auth import check_agent, check_ticket, current_key, forbid, requires
from services.web.current import runtime
from services.web.errors import found, located
from services.web.parsing import int_arg, json_object, validated

bp = Blueprint("tickets", __name__)
MAX_PAGE = 500


def _choice(name: str, allowed: type[Any]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in {m.value for m in allowed}:
        known = ", ".join(m.value for m in allowed)
        raise InvalidRequest(f"{name}: must be one of {known}", field=name)
    return value


def _ticket_or_404(store: TicketStore, ticket_id: str) -> Doc:
    """The ticket, if this key may see it."""
    doc = found(store.get_ticket(ticket_id), "ticket", ticket_id)
    check_ticket(doc)
    return doc


# -- agents ----------------------------------------------------------------------------------------


@bp.post("/agents")
@requires(Scope.ADMIN)
def create_agent() -> Response:
    doc = staffing.enroll(runtime().tickets, validated(AgentRequest, json_object()))
    return located(agent_to_api(doc), 201, f"/agents/{doc['_id']}")


@bp.get("/agents")
@requires(Scope.TICKETS_WRITE)
def list_agents() -> Response:
    status = _choice("status", AgentStatus)
    limit = int_arg("limit", 100, 1, MAX_PAGE)
    docs, next_cursor = runtime().tickets.list_agents(
        status, limit, request.args.get("cursor") or None
    )
    return jsonify({"items": [agent_to_api(d) for d in docs], "next": next_cursor})


@bp.get("/agents/<agent_id>")
@requires(Scope.TICKETS_WRITE, Scope.TICKETS_AGENT)
def get_agent(agent_id: str) -> Response:
    check_agent(agent_id)
    return jsonify(agent_to_api(found(runtime().tickets.get_agent(agent_id), "agent", agent_id)))


@bp.patch("/agents/<agent_id>")
@requires(Scope.TICKETS_AGENT)
def patch_agent(agent_id: str) -> Response:
    patch = validated(AgentPatch, json_object())
    if not current_key().is_admin:
        # Agents set their own status; their skills and capacities are an admin's to change.
        check_agent(agent_id)
        if patch.model_fields_set - {"status"}:
            raise forbid(Scope.ADMIN, "an agent's key may change only its status")
    # A capacity below the agent's active tickets, or an agent that kept changing: a 409.
    changed = staffing.update(runtime().tickets, agent_id, patch)
    return jsonify(agent_to_api(found(changed, "agent", agent_id)))


# -- tickets ---------------------------------------------------------------------------------------


@bp.post("/tickets")
@requires(Scope.TICKETS_WRITE)
def create_ticket() -> Response:
    doc = intake.submit(runtime().tickets, validated(TicketRequest, json_object()))
    return located(ticket_to_api(doc), 202, f"/tickets/{doc['_id']}")


@bp.get("/tickets/stats")
@requires(Scope.TICKETS_WRITE)
def ticket_stats() -> Response:
    return jsonify(current_stats())


def current_stats() -> Doc:
    """The ticket queues now and over the stats window (this route's, and the dashboard's)."""
    r = runtime()
    store, s = r.tickets, r.settings
    now = clock.now()
    since = now - timedelta(seconds=s.ticket_stats_window)
    window = stats.Window(
        s.ticket_stats_window, store.assigned_since(since), store.abandoned_since(since)
    )
    return stats.summary(store.queue_entries(), window, store.all_agents(), now, s.ticket_sla)


@bp.get("/tickets/<ticket_id>")
@requires(Scope.TICKETS_WRITE, Scope.TICKETS_AGENT)
def get_ticket(ticket_id: str) -> Response:
    return jsonify(ticket_to_api(_ticket_or_404(runtime().tickets, ticket_id)))


@bp.get("/tickets")
@requires(Scope.TICKETS_WRITE, Scope.TICKETS_AGENT)
def list_tickets() -> Response:
    status = _choice("status", TicketStatus)
    channel = _choice("channel", Channel)
    limit = int_arg("limit", 50, 1, MAX_PAGE)
    agent_id = request.args.get("agent_id") or None
    if not current_key().allows(Scope.TICKETS_WRITE):
        agent_id = agent_id or current_key().agent_id
        check_agent(agent_id or "")
    docs, next_cursor = runtime().tickets.list_tickets(
        status,
        channel,
        agent_id,
        limit,
        request.args.get("cursor") or None,
    )
    return jsonify({"items": [ticket_to_api(d) for d in docs], "next": next_cursor})


def _end(ticket_id: str, becomes: TicketStatus) -> Response:
    store = runtime().tickets
    if not current_key().allows(Scope.TICKETS_WRITE):
        _ticket_or_404(store, ticket_id)
    finished = closing.close(store, ticket_id, becomes)
    if finished is None:
        current = _ticket_or_404(store, ticket_id)
        verb = "completed" if becomes is TicketStatus.COMPLETED else "cancelled"
        raise Conflict(
            f"a {current['status']} ticket cannot be {verb}", ticket=ticket_to_api(current)
        )
    return jsonify(ticket_to_api(finished.ticket))


@bp.post("/tickets/<ticket_id>/complete")
@requires(Scope.TICKETS_WRITE, Scope.TICKETS_AGENT)
def complete_ticket(ticket_id: str) -> Response:
    return _end(ticket_id, TicketStatus.COMPLETED)


@bp.post("/tickets/<ticket_id>/cancel")
@requires(Scope.TICKETS_WRITE, Scope.TICKETS_AGENT)
def cancel_ticket(ticket_id: str) -> Response:
    return _end(ticket_id, TicketStatus.CANCELLED)


def _answer(ticket_id: str, accepting: bool) -> Response:
    """An agent's answer to an offer; only the agent it was offered to may give it."""
    store = runtime().tickets
    current = _ticket_or_404(store, ticket_id)
    agent_id = current_key().agent_id or current.get("agent_id") or ""
    if accepting:
        answered = reservations.accept(store, ticket_id, agent_id)
    else:
        answered = closing.reject(store, ticket_id, agent_id)
    if answered is None:
        current = _ticket_or_404(store, ticket_id)
        verb = "accepted" if accepting else "rejected"
        raise Conflict(
            f"a {current['status']} ticket cannot be {verb}: only an offer (reserved) can be",
            ticket=ticket_to_api(current),
        )
    return jsonify(ticket_to_api(answered))


@bp.post("/tickets/<ticket_id>/accept")
@requires(Scope.TICKETS_AGENT)
def accept_ticket(ticket_id: str) -> Response:
    return _answer(ticket_id, accepting=True)


@bp.post("/tickets/<ticket_id>/reject")
@requires(Scope.TICKETS_AGENT)
def reject_ticket(ticket_id: str) -> Response:
    return _answer(ticket_id, accepting=False)
