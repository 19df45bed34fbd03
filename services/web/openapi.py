"""The OpenAPI document, with request schemas taken from the pydantic models that validate them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.core.jobs import registry
from services.core.jobs.submission import JobRequest
from services.core.tickets.requests import AgentPatch, AgentRequest, TicketRequest

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _param(name: str, where: str = "query", **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema or {"type": "string"},
    }


def build() -> dict[str, Any]:
    types = [t for t in (registry.get(name) for name in registry.names()) if t is not None]
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (JobRequest, "validation"),
        *((t.payload_model, "validation") for t in types),
        *((m, "validation") for m in (AgentRequest, AgentPatch, TicketRequest)),
    ]
    _, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = defs.get("$defs", {})
    schemas["Job"] = {"type": "object", "description": "a job as stored, with its outcome"}
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
        "required": ["error"],
    }
    err = _json(_ref("Error"), "error")
    job = _json(_ref("Job"), "the job")
    job_id = _param("job_id", "path")
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Job")},
            "next": {"type": ["string", "null"]},
        },
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard",
            "version": "1.0.0",
            "description": "Distributed jobs on Celery. Job types: " + ", ".join(registry.names()),
        },
        "paths": {
            "/jobs": {
                "post": _op(
                    "Submit a job",
                    {"202": job, "400": err, "409": err, "413": err, "503": err},
                    _ref("JobRequest"),
                    [_param("Idempotency-Key", "header")],
                ),
                "get": _op(
                    "List jobs, newest first",
                    {"200": _json(page, "a page of jobs"), "400": err},
                    params=[
                        _param("status"),
                        _param("type"),
                        _param("cursor"),
                        _param("limit", type="integer", minimum=1, maximum=500),
                    ],
                ),
            },
            "/jobs/batch": {
                "post": _op(
                    "Submit several jobs",
                    {"202": _json({"type": "object"}, "the jobs in order"), "400": err, "503": err},
                    {
                        "type": "object",
                        "properties": {"jobs": {"type": "array", "items": _ref("JobRequest")}},
                    },
                )
            },
            "/jobs/{job_id}": {"get": _op("Read a job", {"200": job, "404": err}, params=[job_id])},
            "/jobs/{job_id}/cancel": {
                "post": _op("Cancel a job", {"200": job, "404": err, "409": err}, params=[job_id])
            },
            "/jobs/{job_id}/retry": {
                "post": _op(
                    "Retry a failed or cancelled job",
                    {"202": job, "404": err, "409": err},
                    params=[job_id],
                )
            },
            "/stats": {
                "get": _op(
                    "Counts by status and type, queue depths, workers",
                    {"200": _json({"type": "object"}, "statistics")},
                )
            },
            "/health": {
                "get": _op(
                    "Dependencies reachable?",
                    {
                        "200": _json({"type": "object"}, "healthy"),
                        "503": _json({"type": "object"}, "unhealthy"),
                    },
                )
            },
            "/word-count": {
                "post": _op(
                    "Legacy: schedule a word count of a URL",
                    {"202": _json({"type": "object"}, "scheduled"), "400": err},
                    {"type": "object", "properties": {"url": {"type": "string"}}},
                ),
                "get": _op(
                    "Legacy: read a word count job",
                    {"200": _json({"type": "object"}, "the job"), "400": err, "404": err},
                    params=[_param("job_id")],
                ),
            },
            "/api/event/v1": {
                "post": _op(
                    "Legacy: queue an event (lower priority numbers first)",
                    {
                        "200": _json({"type": "object"}, "queued"),
                        "400": {"description": "plain-text reason"},
                    },
                    {
                        "type": "object",
                        "required": ["user_id", "priority", "event_type_id", "event_data"],
                    },
                )
            },
        },
        "components": {"schemas": schemas},
    }
    spec["paths"].update(_ticket_paths(err))
    return spec


def _ticket_paths(err: dict[str, Any]) -> dict[str, Any]:
    """Agents and tickets (services/web/tickets_api.py)."""
    obj = {"type": "object"}
    agent = _json(obj, "the agent; each channel shows capacity, active and free")
    ticket = _json(obj, "the ticket")
    listing = {"type": "object", "properties": {"items": {"type": "array"}, "next": {}}}
    page = _json(listing, "a page")
    agent_id, ticket_id = _param("agent_id", "path"), _param("ticket_id", "path")
    limit = _param("limit", type="integer", minimum=1, maximum=500)
    return {
        "/agents": {
            "post": _op(
                "Add an agent", {"201": agent, "400": err, "503": err}, _ref("AgentRequest")
            ),
            "get": _op(
                "List agents, oldest first",
                {"200": page, "400": err},
                params=[_param("status"), _param("cursor"), limit],
            ),
        },
        "/agents/{agent_id}": {
            "get": _op("Read an agent", {"200": agent, "404": err}, params=[agent_id]),
            "patch": _op(
                "Change status, skills, name or capacities",
                {"200": agent, "400": err, "404": err, "409": err},
                _ref("AgentPatch"),
                [agent_id],
            ),
        },
        "/tickets": {
            "post": _op(
                "Submit a ticket: it waits, then goes to the best eligible agent",
                {"202": ticket, "400": err, "503": err},
                _ref("TicketRequest"),
            ),
            "get": _op(
                "List tickets, newest first",
                {"200": page, "400": err},
                params=[
                    _param("status"),
                    _param("channel"),
                    _param("agent_id"),
                    _param("cursor"),
                    limit,
                ],
            ),
        },
        "/tickets/stats": {
            "get": _op(
                "Waiting per channel, longest wait, time to assign, assignments per "
                "minute, occupancy",
                {"200": _json(obj, "statistics")},
            )
        },
        "/tickets/{ticket_id}": {
            "get": _op("Read a ticket", {"200": ticket, "404": err}, params=[ticket_id])
        },
        "/tickets/{ticket_id}/complete": {
            "post": _op(
                "Complete an assigned ticket",
                {"200": ticket, "404": err, "409": err},
                params=[ticket_id],
            )
        },
        "/tickets/{ticket_id}/cancel": {
            "post": _op(
                "Cancel a waiting or assigned ticket",
                {"200": ticket, "404": err, "409": err},
                params=[ticket_id],
            )
        },
    }
