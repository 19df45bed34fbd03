"""A job type the integration tests register through SWITCHBOARD_JOB_MODULES, as a user would."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, JsonValue

from services.core.jobs.context import JobContext
from services.core.jobs.registry import job_type


class EchoPayload(BaseModel):
    value: JsonValue = None


@job_type("echo", EchoPayload)
def echo(payload: EchoPayload, ctx: JobContext) -> Any:
    """Returns its input, so a result can be compared with the payload byte for byte."""
    return payload.value
