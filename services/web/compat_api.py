"""The endpoints of the two systems Switchboard replaces, kept answer for answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pymongo.errors import ConnectionFailure

from services.core import jsonfield
from services.core.apikeys import Scope
from services.core.errors import BrokerUnavailable
from services.core.jobs.document import JobDoc
from services.core.jobs.states import JobStatus
from services.core.jobs.submission import InvalidJob, JobRequest, parse, submit
from services.web.auth import current_key, may_read_job, requires
from services.web.current import runtime
from services.web.errors import in_envelope
from services.web.parsing import json_body

bp = Blueprint("compat", __name__)

_LEGACY_STATUS = {
    JobStatus.SUCCEEDED.value: "COMPLETE",
    JobStatus.FAILED.value: "FAIL",
    JobStatus.CANCELLED.value: "FAIL",
}


def _word_count_reply(status: int, message: str, data: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"success": status < 400, "message": message}
    if data is not None:
        body["data"] = data
    response = jsonify(body)
    response.status_code = status
    return response


def _word_count_body() -> dict[str, Any]:
    body = json_body(required=False)
    return body if isinstance(body, dict) else {}


def _submit(job: JobRequest) -> JobDoc:
    r = runtime()
    doc, _ = submit(r.committer, job, r.settings.job_max_attempts, current_key().id)
    return doc


@bp.post("/word-count")
@in_envelope(_word_count_reply)
@requires(Scope.JOBS_WRITE)
def schedule_word_count() -> Response:
    body = _word_count_body()
    url = body.get("url")
    if not isinstance(url, str) or not url:
        return _word_count_reply(400, "Missing or invalid 'url' in the request body")
    try:
        job = parse({"type": "word_count", "payload": {"url": url}})
    except InvalidJob as exc:
        return _word_count_reply(400, f"Invalid url: {exc.message}")
    doc = _submit(job)
    data = {"job_id": doc["_id"], "url": url, "status": "IN_PROGRESS"}
    return _word_count_reply(202, f"Scheduled Job: {doc['_id']}", data)


@bp.get("/word-count")
@in_envelope(_word_count_reply)
@requires(Scope.JOBS_READ, Scope.JOBS_WRITE)
def fetch_word_count() -> Response:
    job_id = request.args.get("job_id") or _word_count_body().get("job_id")
    if not isinstance(job_id, str) or not job_id:
        return _word_count_reply(400, "Missing 'job_id' in the query string or the request body")
    doc = runtime().jobs.get(job_id)
    if doc is None or doc["type"] != "word_count" or not may_read_job(doc):
        return _word_count_reply(404, f"No word count job with id {job_id}")
    status = _LEGACY_STATUS.get(doc["status"], "IN_PROGRESS")
    data: dict[str, Any] = {"job_id": job_id, "status": status}
    if status == "COMPLETE":
        data["word_count"] = jsonfield.load(doc["result"])["counts"]
    return _word_count_reply(200, f"Fetched Job: {job_id}", data)


def _legacy_priority(priority: int) -> int:
    """The event API ran lower numbers first; Switchboard runs higher first."""
    return 9 - min(max(priority, 0), 9)


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.post("/api/event/v1")
@in_envelope(_plain)
@requires(Scope.JOBS_WRITE)
def post_event() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        return _plain(400, "the request body must be a JSON object")
    for name in ("user_id", "priority", "event_type_id"):
        value = body[name] = jsonfield.integral(body.get(name))
        if not isinstance(value, int) or isinstance(value, bool):
            return _plain(400, f"{name}: must be an integer")
    if "event_data" not in body:
        return _plain(400, "event_data: is required")
    if extra := set(body) - {"user_id", "priority", "event_type_id", "event_data"}:
        return _plain(400, f"unexpected fields: {', '.join(sorted(extra))}")
    payload = {k: body[k] for k in ("user_id", "event_type_id", "event_data")}
    job = JobRequest(type="event", payload=payload, priority=_legacy_priority(body["priority"]))
    try:
        doc = _submit(job)
    except BrokerUnavailable:
        return _plain(500, "could not enqueue the event: the message broker is unavailable")
    except ConnectionFailure:
        # The driver's text names the database's hosts: it stays out of the answer.
        return _plain(500, "could not enqueue the event: the database is unavailable")
    return jsonify(
        {"success": True, "message": f"Queued Event: {doc['_id']}", "job_id": doc["_id"]}
    )
