"""Turning a client's request into recorded, published jobs."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    ValidationError,
)
from pymongo.errors import DuplicateKeyError

from services.core import jsonfield
from services.core.jobs import registry
from services.core.jobs.committer import default_committer
from services.core.jobs.store import Doc, default_store, new_job
from services.core.jsonfield import Integer, integral

DEFAULT_PRIORITY = 5


class JobRequest(BaseModel):
    # Strict types: `true` is no priority (bool is an int in Python), nor is "5" or 5.5.
    model_config = ConfigDict(extra="forbid", strict=True)

    type: str = Field(min_length=1, description="a registered job type")
    payload: JsonValue = Field(default_factory=dict, description="input for the job type")
    priority: Integer = Field(default=DEFAULT_PRIORITY, ge=0, le=9, description="9 runs first")
    # `Integer`, with its bounds ahead of the validator so the description can state them.
    max_attempts: Annotated[int, Ge(1), Le(100), Strict(), BeforeValidator(integral)] | None = None


class InvalidJob(Exception):
    """A request that cannot become a job; `field` says where."""

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.extra = field, message, extra


class IdempotencyConflict(Exception):
    """An Idempotency-Key reused for a different request."""


def parse(raw: Any, prefix: str = "") -> JobRequest:
    """Validate the request and its payload against the job type's model."""
    try:
        job = JobRequest.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from exc
    job_type = registry.get(job.type)
    if job_type is None:
        known = registry.names()
        raise InvalidJob(
            f"{prefix}type",
            f"unknown job type {job.type!r}; known: {', '.join(known)}",
            known=known,
        )
    try:
        job_type.payload_model.model_validate(job.payload)
    except ValidationError as exc:
        raise _invalid(exc, f"{prefix}payload.") from exc
    return job


def _invalid(exc: ValidationError, prefix: str) -> InvalidJob:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return InvalidJob((prefix + where).rstrip(".") or "body", first["msg"])


def _fingerprint(job: JobRequest) -> str:
    return hashlib.sha256(jsonfield.dump(job.model_dump()).encode()).hexdigest()


def _record(
    job: JobRequest,
    default_attempts: int,
    submitted_by: str | None,
    idempotency_key: str | None = None,
) -> Doc:
    return new_job(
        job.type,
        job.payload,
        job.priority,
        job.max_attempts or default_attempts,
        idempotency_key=idempotency_key,
        request_hash=_fingerprint(job) if idempotency_key else None,
        submitted_by=submitted_by,
    )


def submit(
    job: JobRequest,
    default_attempts: int,
    submitted_by: str | None,
    idempotency_key: str | None = None,
) -> tuple[Doc, bool]:
    """Record and publish one job; with a known key, the job made the first time instead."""
    doc = _record(job, default_attempts, submitted_by, idempotency_key)
    if idempotency_key is None:
        return default_committer().commit([doc])[0], True
    store = default_store()
    existing = store.get_by_idempotency_key(idempotency_key)
    if existing is None:
        try:
            # Recorded here, not by the group: the unique key says whether this one is new.
            store.insert(doc)
        except DuplicateKeyError:
            existing = store.get_by_idempotency_key(idempotency_key)
    if existing is not None:
        if existing.get("request_hash") != doc["request_hash"]:
            raise IdempotencyConflict(idempotency_key)
        return existing, False
    return default_committer().commit([doc], recorded=True)[0], True


def submit_batch(
    jobs: list[JobRequest], default_attempts: int, submitted_by: str | None
) -> list[Doc]:
    """Record and publish the jobs as one group: one insert, one publish, one status write."""
    return default_committer().commit([_record(j, default_attempts, submitted_by) for j in jobs])
