"""The jobs API: submit, batch, read, list, cancel, retry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from services.core import clock
from services.core.apikeys import Scope
from services.core.config import Settings
from services.core.errors import Busy, Conflict, InvalidRequest
from services.core.jobs import forecast
from services.core.jobs.concurrency import Gate
from services.core.jobs.dispatch import redispatch
from services.core.jobs.document import JobDoc
from services.core.jobs.states import FINISHED, JobStatus
from services.core.jobs.store import JobStore, to_api
from services.core.jobs.submission import (
    JobRequest,
    parent_statuses,
    parse,
    submit,
    submit_batch,
)
from services.web import events
from services.web.auth import check_job, current_key, may_read_job, requires
from services.web.current import runtime
from services.web.errors import found, located
from services.web.parsing import idempotency_key, int_arg, json_object

bp = Blueprint("jobs", __name__)
MAX_BATCH = 1000
MAX_PAGE = 500


def _accepted(doc: JobDoc, replayed: bool = False) -> Response:
    response = located(to_api(doc), 202, f"/jobs/{doc['_id']}")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _job_or_404(store: JobStore, job_id: str) -> JobDoc:
    """The job, if this key may see it."""
    doc = found(store.get(job_id), "job", job_id)
    check_job(doc)
    return doc


def _check_reachable(store: JobStore, job_id: str) -> None:
    """Cancel and retry act on the jobs a key may read: any with `jobs:read`, else its own."""
    if not current_key().allows(Scope.JOBS_READ):
        _job_or_404(store, job_id)


def _check_callbacks(jobs: list[JobRequest], s: Settings, prefix: str = "") -> None:
    for i, job in enumerate(jobs):
        if job.callback_url is not None and not s.callback_secret:
            field = f"{prefix}{i}.callback_url" if prefix else "callback_url"
            raise InvalidRequest(
                f"{field}: callbacks are off here: the deployment has no CALLBACK_SECRET to "
                "sign them with",
                field=field,
            )


@bp.post("/jobs")
@requires(Scope.JOBS_WRITE)
def create_job() -> Response:
    key = idempotency_key()
    job = parse(json_object())
    r = runtime()
    _check_callbacks([job], r.settings)
    doc, created = submit(
        r.committer, job, r.settings.job_max_attempts, current_key().id, key, visible=may_read_job
    )
    return _accepted(doc, replayed=not created)


def _batch(body: dict[str, Any]) -> list[JobRequest]:
    raw_jobs = body.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise InvalidRequest("jobs: must be a non-empty list of jobs", field="jobs")
    if len(raw_jobs) > MAX_BATCH:
        raise InvalidRequest(f"jobs: at most {MAX_BATCH} jobs per batch", field="jobs")
    if extra := set(body) - {"jobs"}:
        raise InvalidRequest(
            f"unexpected fields: {', '.join(sorted(extra))}", field=sorted(extra)[0]
        )
    jobs = [parse(raw, prefix=f"jobs.{i}.") for i, raw in enumerate(raw_jobs)]
    _check_callbacks(jobs, runtime().settings, prefix="jobs.")
    return jobs


@bp.post("/jobs/dry-run")
@requires(Scope.JOBS_WRITE)
def dry_run() -> Response:
    """What submitting this job (or `{"jobs": [...]}` batch) would do; nothing is recorded."""
    body = json_object()
    batch = "jobs" in body
    if batch:
        jobs = _batch(body)
    else:
        jobs = [parse(body)]
        _check_callbacks(jobs, runtime().settings)
    r = runtime()
    parents = parent_statuses(r.jobs, jobs, batch, may_read_job)
    gate = Gate(r.database, r.settings)
    return jsonify(forecast.forecast(jobs, gate, clock.now(), parents))


@bp.post("/jobs/batch")
@requires(Scope.JOBS_WRITE)
def create_jobs() -> Response:
    jobs = _batch(json_object())
    r = runtime()
    docs = submit_batch(
        r.committer, jobs, r.settings.job_max_attempts, current_key().id, visible=may_read_job
    )
    response = jsonify({"jobs": [to_api(doc) for doc in docs]})
    response.status_code = 202
    return response


# Ids are 24 characters: so `/jobs/batch` is not read as a job id, and GET there answers 405.
@bp.get("/jobs/<string(length=24):job_id>")
@requires(Scope.JOBS_READ, Scope.JOBS_WRITE)
def get_job(job_id: str) -> Response:
    r = runtime()
    wait = int_arg("wait", 0, 0, r.settings.wait_max_seconds)
    doc = _job_or_404(r.jobs, job_id)
    if wait and JobStatus(doc["status"]) not in FINISHED:
        # Not finished: wait for it, or for `wait` seconds, and answer with the job as it is then.
        r.watchers.wait(job_id, wait)
        doc = _job_or_404(r.jobs, job_id)
    return jsonify(to_api(doc))


@bp.get("/jobs/<string(length=24):job_id>/events")
@requires(Scope.JOBS_READ, Scope.JOBS_WRITE)
def job_events(job_id: str) -> Response:
    r = runtime()
    _job_or_404(r.jobs, job_id)
    watch = r.watchers.open(job_id)
    if watch is None:
        raise Busy(f"no watching slot for the events of job {job_id}")
    body = events.stream(r.jobs, r.watchers, watch, r.settings.events_max_seconds)
    # Nginx passes each event on as it comes rather than buffering the stream.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(body, mimetype="text/event-stream", headers=headers)


@bp.get("/jobs")
@requires(Scope.JOBS_READ)
def list_jobs() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in JobStatus.__members__.values():
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidRequest(f"status: must be one of {known}", field="status")
    limit = int_arg("limit", 50, 1, MAX_PAGE)
    docs, next_cursor = runtime().jobs.page(
        status, request.args.get("type") or None, limit, request.args.get("cursor") or None
    )
    return jsonify({"items": [to_api(doc) for doc in docs], "next": next_cursor})


def cancel(job_id: str) -> JobDoc:
    """Cancel a job the caller may reach (the API's route and the dashboard's button)."""
    store = runtime().jobs
    _check_reachable(store, job_id)
    doc = store.cancel(job_id)
    if doc is None:
        finished = _job_or_404(store, job_id)
        raise Conflict(f"job is already {finished['status']}", job=to_api(finished))
    return doc


def retry(job_id: str) -> JobDoc:
    """Retry a failed or cancelled job the caller may reach (the API's and the dashboard's)."""
    store = runtime().jobs
    _check_reachable(store, job_id)
    r = runtime()
    doc = redispatch(store, job_id, r.publisher, r.settings)
    if doc is None:
        current = _job_or_404(store, job_id)
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {current['status']}"
        )
    return doc


@bp.post("/jobs/<job_id>/cancel")
@requires(Scope.JOBS_WRITE)
def cancel_job(job_id: str) -> Response:
    return jsonify(to_api(cancel(job_id)))


@bp.post("/jobs/<job_id>/retry")
@requires(Scope.JOBS_WRITE)
def retry_job(job_id: str) -> Response:
    return _accepted(retry(job_id))
