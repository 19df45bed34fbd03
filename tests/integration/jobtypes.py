"""Job types the integration tests register through SWITCHBOARD_JOB_MODULES, as a user would."""

from __future__ import annotations

import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from services.core.jobs.context import JobContext
from services.core.jobs.registry import job_type


class EchoPayload(BaseModel):
    value: JsonValue = None


@job_type("echo", EchoPayload)
def echo(payload: EchoPayload, ctx: JobContext) -> Any:
    """Returns its input, so a result can be compared with the payload byte for byte."""
    return payload.value


class HangPayload(BaseModel):
    # Strict, as the OpenAPI description says: a boolean, not 0 or "yes".
    model_config = ConfigDict(extra="forbid", strict=True)
    # Catch the soft time limit and carry on, as a careless handler might: then only the hard
    # limit can stop it.
    ignore_soft_limit: bool = False


@job_type("hang", HangPayload)
def hang(payload: HangPayload, ctx: JobContext) -> None:
    """Never returns by itself: a handler stuck for good, for the time limit tests."""
    while True:
        try:
            time.sleep(3600)
        except SoftTimeLimitExceeded:
            if not payload.ignore_soft_limit:
                raise


class InheritPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


@job_type("inherit", InheritPayload)
def inherit(payload: InheritPayload, ctx: JobContext) -> Any:
    """Returns the results of its parent jobs, as the dependency tests read them back."""
    return {"parents": ctx.parent_results()}


class NapPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seconds: float = Field(0.3, ge=0, le=2)


def _nap(payload: NapPayload, ctx: JobContext) -> dict[str, float]:
    """Sleeps, and says when its handler began and ended (this machine's clock), so a test can
    tell whether two ran at once."""
    began = time.time()
    time.sleep(payload.seconds)
    return {"began": began, "ended": time.time()}


# The same handler twice: `nap` has a type concurrency limit in the test stack, `doze` none (so
# only its `concurrency_key` limits it).
job_type("nap", NapPayload)(_nap)
job_type("doze", NapPayload)(_nap)
