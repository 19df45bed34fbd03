"""The schemas of the OpenAPI description: what clients send and what they get back.

Request bodies come from the pydantic models that validate them; response shapes follow the
functions that render them (`to_api`, `ticket_to_api`, `agent_to_api`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from services.core.jobs import registry
from services.core.jobs.states import JobStatus
from services.core.jobs.store import TIMESTAMPS
from services.core.jobs.submission import JobRequest
from services.core.schedules.requests import (
    CRON_PATTERN,
    MAX_EVERY_SECONDS,
    NAME_PATTERN,
    time_zones,
)
from services.core.tickets.requests import AUTO_ACCEPT, AgentPatch, AgentRequest, TicketRequest
from services.core.tickets.states import AgentStatus, Channel, TicketStatus
from services.core.tickets.store import TICKET_TIMESTAMPS

Schema = dict[str, Any]
COMPONENT = "#/components/{kind}/{name}"
ANY_JSON: Schema = {"description": "any JSON value"}
ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{24}$", "description": "a 24-digit hex id"}
TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
COUNT: Schema = {"type": "integer", "minimum": 0}
HTTP_URL = "^[Hh][Tt][Tt][Pp][Ss]?://"

# -- schema helpers --------------------------------------------------------------------------------


def ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": COMPONENT.format(kind=kind, name=name)}


def enum_of(values: type[StrEnum]) -> Schema:
    return {"type": "string", "enum": [member.value for member in values]}


def obj(properties: Schema, optional: tuple[str, ...] = (), closed: bool = False) -> Schema:
    """An object whose properties are all required but `optional`; `closed` forbids others."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def map_of(values: Schema, keys: Schema | None = None) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": values}
    if keys is not None:
        schema["propertyNames"] = keys
    return schema


def timestamps(*names: str) -> Schema:
    return {name: TIMESTAMP for name in names}


def page_of(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "next": {"type": ["string", "null"], "description": "the cursor of the next page"},
        }
    )


# -- request schemas, from the pydantic models -----------------------------------------------------

_VALIDATION: Literal["validation"] = "validation"
# What pydantic's `strip_whitespace` strips: Unicode White_Space, as a regex character class body.
WHITE_SPACE = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def stripped_string_pattern(min_length: int, max_length: int | None) -> str:
    """A pattern for the strings that have `min_length` to `max_length` characters once stripped."""
    edge, ws = f"[^{WHITE_SPACE}]", f"[{WHITE_SPACE}]*"
    middle = f"[\\s\\S]{{{max(min_length - 2, 0)},{'' if max_length is None else max_length - 2}}}"
    lengths = [edge] if min_length <= 1 else []
    if max_length is None or max_length >= 2:
        lengths.append(edge + middle + edge)
    core = f"(?:{'|'.join(lengths)}){'?' if min_length == 0 else ''}"
    return f"^{ws}{core}{ws}$"


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's JSON Schema, but a stripped string is described by what it accepts before."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace"):
            low, high = json_schema.pop("minLength", 0), json_schema.pop("maxLength", None)
            json_schema["pattern"] = stripped_string_pattern(low, high)
        return json_schema


def _job_types() -> list[registry.JobType]:
    return [t for t in (registry.get(name) for name in registry.names()) if t is not None]


def _model_schemas() -> dict[str, Schema]:
    models: list[type[BaseModel]] = [
        JobRequest,
        *(t.payload_model for t in _job_types()),
        AgentRequest,
        AgentPatch,
        TicketRequest,
    ]
    _, defs = models_json_schema(
        [(m, _VALIDATION) for m in models],
        schema_generator=_SchemaGenerator,
        ref_template=COMPONENT.format(kind="schemas", name="{model}"),
    )
    schemas: dict[str, Schema] = defs.get("$defs", {})
    # A start time is given one way or the other, never both (a validator JSON Schema cannot see).
    schemas["JobRequest"]["not"] = {"required": ["run_at", "delay_seconds"]}
    # `\s` is Unicode White_Space to pydantic (U+0085 among it), not to a JSON Schema (ECMA)
    # regex: spelt out, both read the callback URL's pattern alike.
    callback = schemas["JobRequest"]["properties"]["callback_url"]["anyOf"][0]
    callback["pattern"] = (
        callback["pattern"].replace(r"\s", WHITE_SPACE).replace(r"\S", f"[^{WHITE_SPACE}]")
    )
    # `WordCountPayload` checks "exactly one of text or url" in a validator JSON Schema cannot see,
    # and takes http and https URLs only.
    if word_count := schemas.get("WordCountPayload"):
        word_count["properties"]["url"]["anyOf"][0]["pattern"] = HTTP_URL
        word_count["oneOf"] = [
            {"required": [source], "properties": {source: {"type": "string"}}}
            for source in ("text", "url")
        ]
    return schemas


def _accepts_empty(job_type: registry.JobType) -> bool:
    """Whether the type takes the default payload `{}`, so that `payload` may be left out."""
    try:
        job_type.payload_model.model_validate({})
    except ValidationError:
        return False
    return True


def _job_submission(
    schemas: dict[str, Schema], kind: str = "JobRequest", leave_out: tuple[str, ...] = ()
) -> Schema:
    """A job request whose payload follows its type: one variant per registered type, named
    `<kind>_<type>`, without the fields `leave_out` names."""
    # The "not" says run_at and delay_seconds are not both given: moot once they are left out.
    common = {
        k: v for k, v in schemas["JobRequest"].items() if not ("run_at" in leave_out and k == "not")
    }
    kept = {k: v for k, v in common["properties"].items() if k not in leave_out}
    variants = {}
    for job_type in _job_types():
        name = f"{kind}_{job_type.name}"
        properties = {
            **kept,
            "type": {"const": job_type.name},
            "payload": ref(job_type.payload_model.__name__),
        }
        required = [*common["required"], *(() if _accepts_empty(job_type) else ("payload",))]
        variants[name] = {**common, "title": name, "properties": properties, "required": required}
    schemas.update(variants)
    return {
        "oneOf": [ref(name) for name in variants],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                t.name: COMPONENT.format(kind="schemas", name=f"{kind}_{t.name}")
                for t in _job_types()
            },
        },
    }


def _dry_run() -> Schema:
    seconds = {"type": "number", "minimum": 0}
    at_most = {"type": ["integer", "null"], "minimum": 1}
    limit = obj(
        {
            "scope": {"enum": ["type", "key"]},
            "name": {"type": "string"},
            "concurrency": at_most,
            "rate_per_second": at_most,
            "running": COUNT,
            "at_limit": {"type": "boolean"},
        }
    )
    job = obj(
        {
            "type": {"type": "string"},
            "priority": {"type": "integer", "minimum": 0, "maximum": 9},
            "status": {
                "enum": [
                    s.value for s in (JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.BLOCKED)
                ]
            },
            "depends_on": {"type": "array", "items": ID},
            "depends_on_index": {"type": "array", "items": COUNT},
            "starts_at": TIMESTAMP,
            "max_attempts": {"type": "integer", "minimum": 1},
            "time_limit_seconds": obj({"soft": seconds, "hard": seconds}),
            "callback": {"type": "boolean"},
            "limits": {"type": "array", "items": limit},
        }
    )
    queue = obj({"name": {"type": "string"}, "waiting": COUNT, "workers": COUNT})
    return obj(
        {
            "jobs": {"type": "array", "items": job},
            "queue": {"anyOf": [queue, {"type": "null"}]},
        }
    )


def _schedule_fields() -> Schema:
    return {
        "cron": {
            "type": "string",
            "pattern": CRON_PATTERN,
            "description": "five fields: minute hour day-of-month month day-of-week",
        },
        "every_seconds": {"type": "number", "minimum": 1, "maximum": MAX_EVERY_SECONDS},
        "timezone": {"type": "string", "enum": time_zones(), "description": "default UTC"},
        "job": ref("ScheduledJob"),
    }


def _schedule_request() -> Schema:
    request = obj(
        {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            **_schedule_fields(),
            "paused": {"type": "boolean"},
        },
        optional=("cron", "every_seconds", "timezone", "paused"),
        closed=True,
    )
    request["oneOf"] = [{"required": ["cron"]}, {"required": ["every_seconds"]}]
    return request


def _schedule_patch() -> Schema:
    patch = obj(_schedule_fields(), optional=tuple(_schedule_fields()), closed=True)
    patch["not"] = {"required": ["cron", "every_seconds"]}
    return patch


def _schedule() -> Schema:
    change = obj(
        {"at": TIMESTAMP, "by": {"type": ["string", "null"]}, "change": {"type": "string"}}
    )
    return obj(
        {
            "name": {"type": "string"},
            "cron": {"type": ["string", "null"]},
            "every_seconds": {"type": ["number", "null"]},
            "timezone": {"type": "string"},
            "job": {"type": "object"},
            "paused": {"type": "boolean"},
            "last_job_id": {"type": ["string", "null"]},
            "last_error": {"type": ["string", "null"]},
            "runs": COUNT,
            "history": {"type": "array", "items": change},
            **timestamps("next_run_at", "last_run_at", "created_at", "updated_at"),
        }
    )


# -- response schemas ------------------------------------------------------------------------------


def _timeline_entry() -> Schema:
    return obj(
        {
            "at": TIMESTAMP,
            "event": {"type": "string", "enum": ["blocked", "released", "cancelled"]},
            "parent": {
                "anyOf": [ID, {"type": "null"}],
                "description": "the parent whose end made the move; null when made at submit",
            },
            "detail": {"type": "string"},
        }
    )


def _job() -> Schema:
    attempt_error = obj({"attempt": COUNT, "error": {"type": "string"}, "at": TIMESTAMP})
    return obj(
        {
            "id": ID,
            "type": {"type": "string", "enum": registry.names()},
            "payload": ANY_JSON,
            "priority": {"type": "integer", "minimum": 0, "maximum": 9},
            "status": enum_of(JobStatus),
            "attempts": COUNT,
            "max_attempts": {"type": "integer", "minimum": 1},
            "result": ANY_JSON,
            "error": {"type": ["string", "null"]},
            "errors": {"type": "array", "items": attempt_error},
            "progress": {"type": ["number", "null"]},
            "idempotency_key": {"type": ["string", "null"]},
            "cancel_requested": {"type": "boolean"},
            "worker": {"type": ["string", "null"]},
            "callback": {
                "anyOf": [
                    obj(
                        {
                            "url": {"type": "string"},
                            "pending": {"type": "boolean"},
                            "attempts": COUNT,
                            "error": {"type": ["string", "null"]},
                            "sent_at": TIMESTAMP,
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "schedule": {
                "anyOf": [obj({"name": {"type": "string"}, "tick": TIMESTAMP}), {"type": "null"}]
            },
            "depends_on": {"type": "array", "items": ID, "description": "its parent jobs"},
            "timeline": {
                "type": "array",
                "items": _timeline_entry(),
                "description": "what its parents did to it, oldest first",
            },
            "timeout_seconds": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "concurrency_key": {"type": ["string", "null"]},
            **timestamps(*TIMESTAMPS),
        }
    )


def _agent() -> Schema:
    load = obj({"capacity": COUNT, "active": COUNT, "free": COUNT})
    return obj(
        {
            "id": ID,
            "name": {"type": "string"},
            "skills": {"type": "array", "items": {"type": "string"}},
            "status": enum_of(AgentStatus),
            "channels": obj({channel.value: load for channel in Channel}),
            "tickets": {"type": "array", "items": ID, "description": "tickets holding capacity"},
            "assigned_total": COUNT,
            "auto_accept": {
                "type": "boolean",
                "description": AUTO_ACCEPT,
            },
            "missed_offers": {**COUNT, "description": "offers in a row left unanswered"},
            **timestamps("last_freed_at", "created_at", "updated_at"),
        }
    )


def _ticket() -> Schema:
    return obj(
        {
            "id": ID,
            "channel": enum_of(Channel),
            "skills": {"type": "array", "items": {"type": "string"}},
            "priority": {"type": "integer", "minimum": 0, "maximum": 9},
            "data": ANY_JSON,
            "status": enum_of(TicketStatus),
            "agent_id": {"anyOf": [ID, {"type": "null"}]},
            "preferred_skills": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the skills asked for before an escalation widened `skills`",
            },
            "timeline": {"type": "array", "items": _ticket_event()},
            **timestamps(*TICKET_TIMESTAMPS),
        }
    )


def _ticket_event() -> Schema:
    events = ["offered", "accepted", "rejected", "timed_out", "assigned", "widened"]
    return obj(
        {
            "event": {"type": "string", "enum": events},
            "at": TIMESTAMP,
            "agent_id": {"anyOf": [ID, {"type": "null"}]},
            "skills": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "`widened`: the skills now required",
            },
        },
        closed=True,
    )


def _job_stats() -> Schema:
    by_status = map_of(COUNT, enum_of(JobStatus))
    depth = obj({"messages": COUNT, "consumers": COUNT})
    return obj(
        {
            "jobs": obj({"total": COUNT, "by_status": by_status, "by_type": map_of(by_status)}),
            "queues": map_of(depth),
            "workers_online": COUNT,
        }
    )


def _ticket_stats() -> Schema:
    seconds = {"type": ["number", "null"], "minimum": 0}
    per_channel = {channel.value: COUNT for channel in Channel}
    occupancy = obj({"active": COUNT, "capacity": COUNT, "ratio": seconds})
    ratio = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    service = obj({"sla_seconds": seconds, "assigned": COUNT, "within_sla": COUNT, "ratio": ratio})
    gave_up = obj({"count": COUNT, "ratio": ratio})
    return obj(
        {
            "waiting": obj({**per_channel, "total": COUNT}),
            "longest_wait_seconds": seconds,
            "time_to_assign_seconds": obj(
                {
                    "window_seconds": seconds,
                    "count": COUNT,
                    "p50": seconds,
                    "p90": seconds,
                    "p99": seconds,
                }
            ),
            "assignments_per_minute": obj({"last_minute": COUNT, "window_average": seconds}),
            "service_level": obj({channel.value: service for channel in Channel}),
            "abandoned": obj({channel.value: gave_up for channel in Channel}),
            "occupancy": obj({channel.value: occupancy for channel in Channel}),
            "agents": obj({status.value: COUNT for status in AgentStatus}),
        }
    )


def _health() -> Schema:
    return obj(
        {
            "success": {"type": "boolean"},
            "message": {"type": "string"},
            "data": obj(
                {
                    "status": {"type": "string", "enum": ["PASS", "FAIL"]},
                    "info": {"type": "string"},
                    "checks": map_of({"type": "string"}, {"enum": ["mongodb", "rabbitmq"]}),
                }
            ),
        }
    )


def _legacy_schemas() -> dict[str, Schema]:
    """The envelopes of the two systems Switchboard replaces."""
    legacy_status = {"type": "string", "enum": ["IN_PROGRESS", "COMPLETE", "FAIL"]}
    return {
        "LegacyFailure": obj({"success": {"const": False}, "message": {"type": "string"}}),
        "WordCountScheduled": obj(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "data": obj(
                    {"job_id": ID, "url": {"type": "string"}, "status": {"const": "IN_PROGRESS"}}
                ),
            }
        ),
        "WordCountFetched": obj(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "data": obj(
                    {"job_id": ID, "status": legacy_status, "word_count": map_of(COUNT)},
                    optional=("word_count",),
                ),
            }
        ),
        "LegacyEvent": obj(
            {
                "user_id": {"type": "integer"},
                "priority": {"type": "integer", "description": "lower numbers run first"},
                "event_type_id": {"type": "integer"},
                "event_data": ANY_JSON,
            },
            closed=True,
        ),
        "EventQueued": obj(
            {"success": {"const": True}, "message": {"type": "string"}, "job_id": ID}
        ),
    }


def _error() -> Schema:
    return {
        "type": "object",
        "description": "every error from every layer; some carry more fields (`job`, `limit`...)",
        "properties": {
            "error": {"type": "string", "description": "what went wrong, for a human"},
            "field": {"type": "string", "description": "the field or parameter at fault"},
        },
        "required": ["error"],
    }


def schemas() -> dict[str, Schema]:
    """Every schema of the description, by name."""
    schemas = _model_schemas()
    # Only a batch has earlier jobs for `depends_on_index` to name.
    schemas["BatchJobSubmission"] = _job_submission(schemas, "BatchJobSubmission")
    schemas["JobSubmission"] = _job_submission(schemas, leave_out=("depends_on_index",))
    schemas["ScheduledJob"] = _job_submission(
        schemas,
        "ScheduledJob",
        ("run_at", "delay_seconds", "depends_on", "depends_on_index"),
    )
    batch = {"type": "array", "items": ref("BatchJobSubmission"), "minItems": 1, "maxItems": 1000}
    schemas["JobBatchRequest"] = obj({"jobs": batch}, closed=True)
    schemas.update(
        Job=_job(),
        JobPage=page_of("Job"),
        JobBatch=obj({"jobs": {"type": "array", "items": ref("Job")}}),
        JobStats=_job_stats(),
        DryRun=_dry_run(),
        ScheduleRequest=_schedule_request(),
        SchedulePatch=_schedule_patch(),
        Schedule=_schedule(),
        SchedulePage=page_of("Schedule"),
        Agent=_agent(),
        AgentPage=page_of("Agent"),
        Ticket=_ticket(),
        TicketPage=page_of("Ticket"),
        TicketStats=_ticket_stats(),
        Health=_health(),
        Error=_error(),
        **_legacy_schemas(),
    )
    return schemas
