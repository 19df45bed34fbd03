"""`tally`: a no-op job type that leaves a trace of every execution, for the drills' audit.

Registered through SWITCHBOARD_JOB_MODULES, as a user would. Each run appends one document to a
side collection *before* returning, so the audit can tell "executed twice" (at-least-once, allowed)
from "recorded twice" (must never happen), and its result names the attempt that produced it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, JsonValue

from services.core import clock
from services.core.jobs.context import JobContext
from services.core.jobs.registry import job_type
from services.core.runtime import process_runtime

EXECUTIONS = "bench_executions"


class TallyPayload(BaseModel):
    token: JsonValue = None
    seconds: float = 0.0


@job_type("tally", TallyPayload)
def tally(payload: TallyPayload, ctx: JobContext) -> dict[str, Any]:
    if payload.seconds:
        ctx.sleep(payload.seconds)
    process_runtime().database[EXECUTIONS].insert_one(
        {"job_id": ctx.job_id, "attempt": ctx.attempt, "token": payload.token, "at": clock.now()}
    )
    return {"attempt": ctx.attempt, "token": payload.token}
