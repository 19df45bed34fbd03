"""Turning a client's request into recorded, published jobs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pymongo.errors import DuplicateKeyError

from services.core import clock, jsonfield
from services.core.documents import Doc
from services.core.errors import Conflict, InvalidRequest
from services.core.jobs import dependencies, registry
from services.core.jobs.committer import Committer
from services.core.jobs.document import JobDoc
from services.core.jobs.store import JobStore, new_job
from services.core.jsonfield import Integer, integral

DEFAULT_PRIORITY = 5
# Ten years: far enough for anything a delay is for, near enough that no date overflows.
MAX_DELAY_SECONDS = 10 * 365 * 24 * 3600
MAX_PARENTS = dependencies.MAX_PARENTS
JobId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
BatchIndex = Annotated[int, Ge(0), Le(999), Strict(), BeforeValidator(integral)]
# The longest `timeout_seconds` a request may ask for; JOB_TIME_LIMIT_MAX caps it further.
MAX_TIMEOUT_SECONDS = 24 * 3600


def _text(value: Any) -> Any:
    """A time only as RFC 3339 text: lax datetime parsing would also take numbers."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string, such as 2030-01-31T09:00:00Z")
    return value


class JobRequest(BaseModel):
    # Strict types: `true` is no priority (bool is an int in Python), nor is "5" or 5.5.
    model_config = ConfigDict(extra="forbid", strict=True)

    type: str = Field(min_length=1, description="a registered job type")
    payload: JsonValue = Field(default_factory=dict, description="input for the job type")
    priority: Integer = Field(default=DEFAULT_PRIORITY, ge=0, le=9, description="9 runs first")
    # `Integer`, with its bounds ahead of the validator so the description can state them.
    max_attempts: Annotated[int, Ge(1), Le(100), Strict(), BeforeValidator(integral)] | None = None
    run_at: Annotated[AwareDatetime, Strict(False), BeforeValidator(_text)] | None = Field(
        default=None,
        description="start no earlier than this (RFC 3339, with a time zone); `scheduled` until "
        "then. A time already past starts at once.",
    )
    delay_seconds: Annotated[float, Ge(0), Le(MAX_DELAY_SECONDS)] | None = Field(
        default=None, description="start no earlier than this many seconds from now"
    )
    callback_url: (
        Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s/?#@]+\S*$")]
        | None
    ) = Field(
        default=None,
        description="POSTed the job, signed (Switchboard-Signature), once it ends; retried "
        "with backoff; never to an internal address",
    )

    depends_on: Annotated[list[JobId], Field(max_length=MAX_PARENTS)] | None = Field(
        default=None,
        description="ids of parent jobs: this one is `blocked` until every one has succeeded, "
        "and cancelled when one fails for good or is cancelled",
    )
    depends_on_index: Annotated[list[BatchIndex], Field(max_length=MAX_PARENTS)] | None = Field(
        default=None,
        description="in `POST /jobs/batch` only: parents among the jobs before this one in the "
        "same batch, by their index there (0 is the first)",
    )
    timeout_seconds: Annotated[float, Gt(0), Le(MAX_TIMEOUT_SECONDS)] | None = Field(
        default=None,
        description="this job's time limit per attempt, instead of its type's (capped at the "
        "server's JOB_TIME_LIMIT_MAX): past it the attempt fails and is retried while attempts "
        "are left",
    )
    concurrency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w.:@-]+$")]
        | None
    ) = Field(
        default=None,
        description="a name, such as a customer id, whose jobs share the server's KEY_CONCURRENCY "
        "and KEY_RATE limits",
    )

    @field_validator("delay_seconds")
    @classmethod
    def _one_start_time(cls, delay: float | None, info: ValidationInfo) -> float | None:
        if delay is not None and info.data.get("run_at") is not None:
            raise ValueError("give run_at or delay_seconds, not both")
        return delay

    def start_at(self, now: datetime) -> datetime | None:
        """When the job may start, in UTC; None for now."""
        if self.delay_seconds is not None:
            return now + timedelta(seconds=self.delay_seconds)
        if self.run_at is None:
            return None
        try:
            return self.run_at.astimezone(UTC)
        except OverflowError:
            # Within a day of year 1 or 9999: only the far past can overflow towards year 0.
            return None if self.run_at.year < 5000 else datetime.max.replace(tzinfo=UTC)


class InvalidJob(InvalidRequest):
    """A request that cannot become a job; `field` says where."""

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"{field}: {message}", field=field, **extra)


class IdempotencyConflict(Conflict):
    """An Idempotency-Key reused for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__("this Idempotency-Key was already used for a different request", key=key)


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
    fields = job.model_dump(mode="json")
    # Left out when unused, so that requests made before these fields existed hash as they did.
    optional = (
        "run_at",
        "delay_seconds",
        "callback_url",
        "depends_on",
        "depends_on_index",
        "timeout_seconds",
        "concurrency_key",
    )
    for name in optional:
        if fields[name] is None:
            del fields[name]
    return hashlib.sha256(jsonfield.dump(fields).encode()).hexdigest()


def _record(
    job: JobRequest,
    default_attempts: int,
    submitted_by: str | None,
    idempotency_key: str | None = None,
    schedule: Doc | None = None,
) -> JobDoc:
    doc = new_job(
        job.type,
        job.payload,
        job.priority,
        job.max_attempts or default_attempts,
        idempotency_key=idempotency_key,
        request_hash=_fingerprint(job) if idempotency_key else None,
        submitted_by=submitted_by,
        run_at=job.start_at(clock.now()),
        callback_url=job.callback_url,
        schedule=schedule,
    )
    # Only when given, so a job without them is recorded as before.
    if job.timeout_seconds is not None:
        doc["timeout_seconds"] = job.timeout_seconds
    if job.concurrency_key is not None:
        doc["concurrency_key"] = job.concurrency_key
    return doc


def _anyone(_doc: JobDoc) -> bool:
    return True


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def parent_statuses(
    store: JobStore, jobs: list[JobRequest], batch: bool, visible: Callable[[JobDoc], bool]
) -> dict[str, str]:
    """The status of each parent the jobs name by id, after checking what they name: 404 for an
    unknown id or an index naming no earlier job of the batch, 409 for a parent that failed or
    was cancelled, 400 for an index outside a batch (`dependencies`)."""
    if batch:
        dependencies.check_indexes(job.depends_on_index or [] for job in jobs)
    else:
        dependencies.check_single(jobs[0].depends_on_index)
    ids = [job.depends_on or [] for job in jobs]
    named = dependencies.fields_named(ids, prefix="jobs." if batch else "")
    return dependencies.look_up(store, named, visible)


def _commit(committer: Committer, docs: list[JobDoc], recorded: bool = False) -> list[JobDoc]:
    """The group commit, with what dependencies add around it: the parents of blocked jobs
    flagged before the jobs are recorded, and checked again after (`dependencies`)."""
    if not recorded:
        dependencies.flag_parents(committer.store, docs)
    committed = committer.commit(docs, recorded)
    dependencies.recheck(committer.store, committer.publisher, committer.settings, committed)
    return committed


def submit(
    committer: Committer,
    job: JobRequest,
    default_attempts: int,
    submitted_by: str | None,
    idempotency_key: str | None = None,
    schedule: Doc | None = None,
    visible: Callable[[JobDoc], bool] = _anyone,
) -> tuple[JobDoc, bool]:
    """Record and publish one job; with a known key, the job made the first time instead.
    `schedule`: the schedule and tick it is made for; `visible`: which jobs the submitter may
    name as parents."""
    store = committer.store
    existing = store.get_by_idempotency_key(idempotency_key) if idempotency_key else None
    doc = _record(job, default_attempts, submitted_by, idempotency_key, schedule)
    if existing is None:
        # A replay answers with the job made the first time, whatever its parents became since.
        statuses = parent_statuses(store, [job], False, visible)
        dependencies.attach(doc, _unique(job.depends_on or []), statuses)
    if idempotency_key is None:
        return _commit(committer, [doc])[0], True
    if existing is None:
        dependencies.flag_parents(store, [doc])
        try:
            # Recorded here, not by the group: the unique key says whether this one is new.
            store.insert(doc)
        except DuplicateKeyError:
            existing = store.get_by_idempotency_key(idempotency_key)
    if existing is not None:
        if existing.get("request_hash") != doc["request_hash"]:
            raise IdempotencyConflict(idempotency_key)
        return existing, False
    return _commit(committer, [doc], recorded=True)[0], True


def submit_batch(
    committer: Committer,
    jobs: list[JobRequest],
    default_attempts: int,
    submitted_by: str | None,
    visible: Callable[[JobDoc], bool] = _anyone,
) -> list[JobDoc]:
    """Record and publish the jobs as one group: one insert, one publish, one status write.
    A job may name as parents jobs before it in the batch (`depends_on_index`)."""
    statuses = parent_statuses(committer.store, jobs, True, visible)
    docs: list[JobDoc] = []
    for job in jobs:
        doc = _record(job, default_attempts, submitted_by)
        earlier = [docs[i]["_id"] for i in job.depends_on_index or []]
        dependencies.attach(doc, _unique([*(job.depends_on or []), *earlier]), statuses)
        docs.append(doc)
    return _commit(committer, docs)
