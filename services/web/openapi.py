"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json and shown at /docs.

Every operation lists each status it can answer, the layers in front of Flask included (auth,
Nginx's size and rate limits, a replica or dependency that is down), and links tell contract tools
how to chain calls. The schemas are in `openapi_schemas`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from services.core.config import Settings
from services.core.jobs import registry
from services.core.jobs.states import JobStatus
from services.core.tickets.states import AgentStatus, Channel, TicketStatus
from services.web.openapi_schemas import HTTP_URL, ID, Schema, obj, ref, schemas

PAGE_LIMIT_MAX = 500


# -- headers and responses -------------------------------------------------------------------------


def _header(description: str, schema: Schema | None = None, required: bool = False) -> Schema:
    return {
        "description": description,
        "required": required,
        "schema": schema or {"type": "string"},
    }


HEADERS: dict[str, Schema] = {
    "Location": _header("where the new resource can be read", required=True),
    "Retry-After": _header("seconds to wait before trying again", {"type": "integer"}, True),
    "Retry-After-Optional": _header("seconds to wait before trying again", {"type": "integer"}),
    "WWW-Authenticate": _header("the scheme to authenticate with", required=True),
    "Allow": _header("the methods the path supports", required=True),
    "Idempotent-Replayed": _header(
        "`true` when an earlier job with this key is returned", {"const": "true"}
    ),
}


def _event_stream() -> Schema:
    return {
        "description": "a text/event-stream: `event: state` and `event: finished` messages, "
        "each with one line of JSON as its data",
        # On OpenAPI 3.1 the schema describes one event (3.2 calls it `itemSchema`).
        "content": {"text/event-stream": {"schema": _event_schema()}},
    }


def _event_schema() -> Schema:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": ["state", "finished"]},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "retry": {"type": "integer"},
        },
    }


def json_response(description: str, schema: Schema, **headers: str) -> Schema:
    """A JSON response; `headers` maps a header's name to the name of its component."""
    response: Schema = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = {
            name: ref(component, "headers") for name, component in headers.items()
        }
    return response


def _error_response(description: str, **headers: str) -> Schema:
    return json_response(description, ref("Error"), **headers)


RESPONSES: dict[str, Schema] = {
    "BadRequest": _error_response("malformed or invalid input; `field` says where"),
    "Unauthorized": _error_response(
        "no key, or not a valid one", **{"WWW-Authenticate": "WWW-Authenticate"}
    ),
    "Forbidden": _error_response("the key lacks the scope this needs; `scope` names it"),
    "NotFound": _error_response("no such id"),
    "MethodNotAllowed": _error_response(
        "answered for any method a path does not list", Allow="Allow"
    ),
    "Conflict": _error_response("a transition the current status does not allow"),
    "TooLarge": _error_response("the body is larger than the limit (`limit`, in bytes)"),
    "UriTooLong": _error_response("the URL is longer than Nginx takes"),
    "UnsupportedMediaType": _error_response("the body is not sent as application/json"),
    "TooManyRequests": _error_response(
        "this client sends too fast", **{"Retry-After": "Retry-After-Optional"}
    ),
    "Unavailable": _error_response(
        "MongoDB, RabbitMQ or every web replica unreachable", **{"Retry-After": "Retry-After"}
    ),
}
# The response component each error status refers to.
ERROR_STATUSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "TooLarge",
    414: "UriTooLong",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "Unavailable",
}
# What any operation may answer, whatever it does; an authenticated one adds 401 and 403.
ANY_OPERATION = (414, 429, 503)
GUARDED = (401, 403, *ANY_OPERATION)
# What any operation with a JSON body may answer besides.
WITH_BODY = (400, 413, 415)

# -- operations ------------------------------------------------------------------------------------


def param(name: str, where: str = "query", schema: Schema | None = None, about: str = "") -> Schema:
    p: Schema = {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema or {"type": "string"},
    }
    if about:
        p["description"] = about
    return p


def choice(name: str, values: type[StrEnum]) -> Schema:
    """A list filter: one of `values`, or empty (like absent) for any."""
    schema = {"type": "string", "enum": ["", *(member.value for member in values)]}
    return param(name, schema=schema, about="empty or absent: any")


def link(operation_id: str, parameter: str, expression: str = "$response.body#/id") -> Schema:
    """A link to `operation_id`, filling its `parameter` from this response."""
    return {"operationId": operation_id, "parameters": {parameter: expression}}


def op(
    operation_id: str,
    summary: str,
    ok: dict[int, Schema],
    errors: tuple[int, ...] = (),
    body: Schema | None = None,
    params: tuple[Schema, ...] = (),
    links: dict[str, Schema] | None = None,
    public: bool = False,
) -> Schema:
    """One operation: its success responses, then each error status it can answer.

    `links` go on the first success response; a `public` operation needs no key.
    """
    responses: dict[str, Schema] = {str(status): response for status, response in ok.items()}
    if links:
        next(iter(responses.values()))["links"] = links
    statuses = {*errors, *(WITH_BODY if body else ()), *(ANY_OPERATION if public else GUARDED)}
    for status in sorted(statuses):
        responses.setdefault(str(status), ref(ERROR_STATUSES[status], "responses"))
    operation: Schema = {"operationId": operation_id, "summary": summary, "responses": responses}
    if body is not None:
        content = {"application/json": {"schema": body}}
        operation["requestBody"] = {"required": True, "content": content}
    if params:
        operation["parameters"] = list(params)
    if public:
        operation["security"] = []
    return operation


def _limit(default: int) -> Schema:
    count = {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX}
    schema = {"anyOf": [count, {"const": ""}], "default": default}
    return param("limit", schema=schema, about=f"items per page; empty or absent: {default}")


CURSOR = param("cursor", about="`next` of the previous page")


def _wait(longest: int) -> Schema:
    seconds = {"type": "integer", "minimum": 0, "maximum": longest}
    return param(
        "wait",
        schema={"anyOf": [seconds, {"const": ""}], "default": 0},
        about="seconds to wait for the job to finish before answering with it as it is "
        f"(at most {longest}); answered at once when too many requests already wait",
    )


def _job_paths(s: Settings) -> dict[str, Schema]:
    job_id = param("job_id", "path", ID)
    job = ref("Job")
    follow = {
        "GetJob": link("getJob", "job_id"),
        "CancelJob": link("cancelJob", "job_id"),
        "RetryJob": link("retryJob", "job_id"),
    }
    created = json_response(
        "the job, recorded and on the broker",
        job,
        Location="Location",
        **{"Idempotent-Replayed": "Idempotent-Replayed"},
    )
    idempotency_key = param(
        "Idempotency-Key",
        "header",
        {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
        "printable ASCII; the same key returns the job made the first time",
    )
    return {
        "/jobs": {
            "post": op(
                "createJob",
                "Submit a job; with `depends_on`, it is `blocked` until its parents succeed "
                "(404 for a parent not found, 409 for one failed or cancelled)",
                {202: created},
                (404, 409),
                body=ref("JobSubmission"),
                params=(idempotency_key,),
                links=follow,
            ),
            "get": op(
                "listJobs",
                "List jobs, newest first",
                {200: json_response("a page of jobs", ref("JobPage"))},
                (400,),
                params=(
                    choice("status", JobStatus),
                    param("type", about="a job type"),
                    CURSOR,
                    _limit(50),
                ),
            ),
        },
        "/jobs/batch": {
            "post": op(
                "createJobs",
                "Submit several jobs at once; a job may depend on jobs before it in the batch "
                "(`depends_on_index`) as well as on recorded ones (`depends_on`)",
                {202: json_response("the jobs, in the order sent", ref("JobBatch"))},
                (404, 409),
                body=ref("JobBatchRequest"),
                links={"GetFirstJob": link("getJob", "job_id", "$response.body#/jobs/0/id")},
            )
        },
        "/jobs/dry-run": {
            "post": op(
                "dryRunJobs",
                'What submitting this job, or a batch (`{"jobs": [...]}`), would do: each '
                "job's status and start, attempts and time limits, and the queue it would join; "
                "nothing is recorded. Parents are checked as a submit checks them, the batch's "
                "dependency graph included",
                {200: json_response("the forecast", ref("DryRun"))},
                (404, 409),
                body={"anyOf": [ref("JobSubmission"), ref("JobBatchRequest")]},
            )
        },
        "/jobs/{job_id}": {
            "get": op(
                "getJob",
                "Read a job",
                {200: json_response("the job", job)},
                (400, 404),
                params=(job_id, _wait(s.wait_max_seconds)),
                links={"CancelJob": follow["CancelJob"], "RetryJob": follow["RetryJob"]},
            )
        },
        "/jobs/{job_id}/events": {
            "get": op(
                "getJobEvents",
                "Follow a job as Server-Sent Events: a `state` event now and at each change "
                "(status, attempts, progress, error, worker, times), then a `finished` event "
                "with the whole job, and the stream ends; it also ends after JOB_EVENTS_MAX "
                "seconds (EventSource reconnects). 503 when the replica has no watching slot free",
                {200: _event_stream()},
                (404,),
                params=(job_id,),
            )
        },
        "/jobs/{job_id}/cancel": {
            "post": op(
                "cancelJob",
                "Cancel a job: at once if it has not started, cooperatively if it runs; a "
                "failed one (a dead letter) is dismissed; 409 once it succeeded or was cancelled",
                {200: json_response("the job", job)},
                (404, 409),
                params=(job_id,),
                links={"GetJob": follow["GetJob"], "RetryJob": follow["RetryJob"]},
            )
        },
        "/jobs/{job_id}/retry": {
            "post": op(
                "retryJob",
                "Run a failed or cancelled job again",
                {202: json_response("the job, queued again", job, Location="Location")},
                (404, 409),
                params=(job_id,),
                links={"GetJob": follow["GetJob"]},
            )
        },
        "/stats": {
            "get": op(
                "getStats",
                "Jobs by status and type, queue depths, workers online",
                {200: json_response("statistics", ref("JobStats"))},
            )
        },
    }


def _schedule_paths() -> dict[str, Schema]:
    name = param("name", "path", {"type": "string", "maxLength": 64})
    schedule = ref("Schedule")
    follow = {
        "GetSchedule": link("getSchedule", "name", "$response.body#/name"),
        "PauseSchedule": link("pauseSchedule", "name", "$response.body#/name"),
    }

    def acting(operation_id: str, summary: str) -> Schema:
        return op(
            operation_id,
            summary,
            {200: json_response("the schedule", schedule)},
            (404,),
            params=(name,),
        )

    return {
        "/schedules": {
            "post": op(
                "createSchedule",
                "Add a recurring job: a cron expression in a time zone, or an interval; each tick "
                "submits the job once, however many beats run",
                {201: json_response("the schedule", schedule, Location="Location")},
                (409,),
                body=ref("ScheduleRequest"),
                links=follow,
            ),
            "get": op(
                "listSchedules",
                "List schedules by name",
                {200: json_response("a page of schedules", ref("SchedulePage"))},
                (400,),
                params=(CURSOR, _limit(100)),
            ),
        },
        "/schedules/{name}": {
            "get": acting("getSchedule", "Read a schedule: next tick, last run, history"),
            "patch": op(
                "changeSchedule",
                "Change the timing (a cron replaces an interval and back) or the job",
                {200: json_response("the schedule", schedule)},
                (404,),
                body=ref("SchedulePatch"),
                params=(name,),
            ),
            "delete": op(
                "deleteSchedule",
                "Delete a schedule (its jobs stay)",
                {204: {"description": "deleted"}},
                (404,),
                params=(name,),
            ),
        },
        "/schedules/{name}/pause": {
            "post": acting("pauseSchedule", "Stop firing until resumed"),
        },
        "/schedules/{name}/resume": {
            "post": acting("resumeSchedule", "Fire again from the next tick after now"),
        },
    }


def _agent_paths() -> dict[str, Schema]:
    agent_id = param("agent_id", "path", ID)
    follow = {
        "GetAgent": link("getAgent", "agent_id"),
        "ChangeAgent": link("changeAgent", "agent_id"),
    }
    agent = ref("Agent")
    return {
        "/agents": {
            "post": op(
                "createAgent",
                "Add an agent",
                {201: json_response("the agent", agent, Location="Location")},
                body=ref("AgentRequest"),
                links=follow,
            ),
            "get": op(
                "listAgents",
                "List agents, oldest first",
                {200: json_response("a page of agents", ref("AgentPage"))},
                (400,),
                params=(choice("status", AgentStatus), CURSOR, _limit(100)),
            ),
        },
        "/agents/{agent_id}": {
            "get": op(
                "getAgent",
                "Read an agent; each channel shows capacity, active and free",
                {200: json_response("the agent", agent)},
                (404,),
                params=(agent_id,),
            ),
            "patch": op(
                "changeAgent",
                "Change status, skills, name or capacities",
                {200: json_response("the agent", agent)},
                (404, 409),
                body=ref("AgentPatch"),
                params=(agent_id,),
                links={"GetAgent": follow["GetAgent"]},
            ),
        },
    }


def _ticket_paths() -> dict[str, Schema]:
    ticket_id = param("ticket_id", "path", ID)
    ticket = ref("Ticket")
    follow = {
        "GetTicket": link("getTicket", "ticket_id"),
        "CompleteTicket": link("completeTicket", "ticket_id"),
        "CancelTicket": link("cancelTicket", "ticket_id"),
    }
    return {
        "/tickets": {
            "post": op(
                "createTicket",
                "Submit a ticket: it waits, then goes to the best eligible agent",
                {202: json_response("the ticket, waiting", ticket, Location="Location")},
                body=ref("TicketRequest"),
                links=follow,
            ),
            "get": op(
                "listTickets",
                "List tickets, newest first",
                {200: json_response("a page of tickets", ref("TicketPage"))},
                (400,),
                params=(
                    choice("status", TicketStatus),
                    choice("channel", Channel),
                    param("agent_id", about="tickets of this agent"),
                    CURSOR,
                    _limit(50),
                ),
            ),
        },
        "/tickets/stats": {
            "get": op(
                "getTicketStats",
                "Waiting per channel, longest wait, time to assign, throughput, occupancy",
                {200: json_response("statistics", ref("TicketStats"))},
            )
        },
        "/tickets/{ticket_id}": {
            "get": op(
                "getTicket",
                "Read a ticket",
                {200: json_response("the ticket", ticket)},
                (404,),
                params=(ticket_id,),
            )
        },
        "/tickets/{ticket_id}/complete": {
            "post": op(
                "completeTicket",
                "Complete an assigned ticket",
                {200: json_response("the ticket", ticket)},
                (404, 409),
                params=(ticket_id,),
                links={"GetTicket": follow["GetTicket"]},
            )
        },
        "/tickets/{ticket_id}/accept": {
            "post": op(
                "acceptTicket",
                "Accept a ticket offered to this agent (reserved → assigned)",
                {200: json_response("the ticket", ticket)},
                (404, 409),
                params=(ticket_id,),
                links={"GetTicket": follow["GetTicket"]},
            )
        },
        "/tickets/{ticket_id}/reject": {
            "post": op(
                "rejectTicket",
                "Reject a ticket offered to this agent (reserved → waiting)",
                {200: json_response("the ticket", ticket)},
                (404, 409),
                params=(ticket_id,),
                links={"GetTicket": follow["GetTicket"]},
            )
        },
        "/tickets/{ticket_id}/cancel": {
            "post": op(
                "cancelTicket",
                "Cancel a waiting, reserved or assigned ticket",
                {200: json_response("the ticket", ticket)},
                (404, 409),
                params=(ticket_id,),
                links={"GetTicket": follow["GetTicket"]},
            )
        },
    }


def _legacy_paths() -> dict[str, Schema]:
    """The seed-compatible routes answer in their own envelopes, not `Error`: every refusal the
    application makes (a bad body, no key, the wrong scope); Nginx's own stay `Error`."""
    failure = ref("LegacyFailure")
    either = {"anyOf": [failure, ref("Error")]}
    refusals = {
        401: json_response("no valid API key", failure, **{"WWW-Authenticate": "WWW-Authenticate"}),
        403: json_response("the key lacks the scope", failure),
        413: json_response("the body is too large", either),
    }
    plain_refusals = {
        401: _plain_text("no valid API key"),
        403: _plain_text("the key lacks the scope"),
        413: {
            "description": "the body is too large",
            "content": {
                **_plain_text("")["content"],
                "application/json": {"schema": ref("Error")},
            },
        },
    }
    return {
        "/word-count": {
            "post": op(
                "scheduleWordCount",
                "Legacy: count the words of the page at a URL",
                {
                    202: json_response("scheduled", ref("WordCountScheduled")),
                    400: json_response("no usable url", failure),
                    415: json_response("the body is not sent as application/json", failure),
                    **refusals,
                },
                body=obj({"url": {"type": "string", "format": "uri", "pattern": HTTP_URL}}),
                links={
                    "FetchWordCount": link(
                        "fetchWordCount", "query.job_id", "$response.body#/data/job_id"
                    )
                },
            ),
            "get": op(
                "fetchWordCount",
                "Legacy: read a word count (`job_id` in the query, or in a JSON body)",
                {
                    200: json_response(
                        "the job; `word_count` once complete", ref("WordCountFetched")
                    ),
                    400: json_response("no job_id", failure),
                    404: json_response("no word count job with this id", failure),
                    415: json_response("a body not sent as application/json", failure),
                    **refusals,
                },
                params=({**param("job_id", schema=ID), "required": True},),
            ),
        },
        "/api/event/v1": {
            "post": op(
                "postEvent",
                "Legacy: queue an event (lower priority numbers run first)",
                {
                    200: json_response("queued", ref("EventQueued")),
                    400: _plain_text("malformed: the reason, in plain text"),
                    415: _plain_text("the body is not sent as application/json"),
                    500: _plain_text("the event could not be queued"),
                    **plain_refusals,
                },
                body=ref("LegacyEvent"),
            )
        },
    }


def _plain_text(description: str) -> Schema:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _system_paths() -> dict[str, Schema]:
    health = ref("Health")
    return {
        "/health": {
            "get": op(
                "getHealth",
                "Are MongoDB and RabbitMQ reachable? Needs no key",
                {
                    200: json_response("healthy", health),
                    503: json_response(
                        "a dependency (or every web replica) is down",
                        {"anyOf": [health, ref("Error")]},
                        **{"Retry-After": "Retry-After"},
                    ),
                },
                public=True,
            )
        },
        "/metrics": {
            "get": op(
                "getMetrics",
                "Jobs, queues and maintenance in Prometheus' text format (scope jobs:read)",
                {200: _plain_text("the metrics, read as the request is served")},
            )
        },
        "/docs": {"get": _docs()},
        "/openapi.json": {
            "get": op(
                "getOpenApi",
                "This description",
                {200: json_response("the OpenAPI document", {"type": "object"})},
            )
        },
    }


def _docs() -> Schema:
    page = {"description": "Swagger UI", "content": {"text/html": {"schema": {"type": "string"}}}}
    docs = op("getDocs", "This description, to read and try in a browser", {200: page})
    # A browser logs in with Basic; the same key as a bearer token works too.
    docs["security"] = [{"basicAuth": []}, {"bearerAuth": []}]
    return docs


SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key: `Authorization: Bearer <key>`",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "for browsers at /docs and /flower: any user name, the API key as password",
    },
}


def build(s: Settings) -> dict[str, Any]:
    """The description of this deployment's API (its limits are its settings')."""
    description = (
        "Distributed jobs and tickets on Celery. Job types: "
        + ", ".join(registry.names())
        + ". Every route but /health needs an API key. A method a path does not list answers "
        "405 with `Allow`."
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": "1.0.0", "description": description},
        "security": [{"bearerAuth": []}],
        "paths": {
            **_job_paths(s),
            **_schedule_paths(),
            **_agent_paths(),
            **_ticket_paths(),
            **_legacy_paths(),
            **_system_paths(),
        },
        "components": {
            "schemas": schemas(),
            "responses": RESPONSES,
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
