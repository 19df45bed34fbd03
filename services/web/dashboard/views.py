"""The dashboard's pages and buttons. Reads go through the stores the API reads; the buttons call
the API's own cancel and retry (`jobs_api.cancel`, `jobs_api.retry`)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState

from services.core import health
from services.core.apikeys import Scope
from services.core.errors import BrokerUnavailable, SwitchboardError
from services.core.jobs.counts import grouped
from services.core.jobs.states import JobStatus
from services.core.jobs.store import to_api as job_to_api
from services.core.runtime import Runtime
from services.core.schedules.book import to_api as schedule_to_api
from services.core.tickets.store import agent_to_api
from services.web import jobs_api, tickets_api
from services.web.auth import lookup_key, public, requires
from services.web.current import EXTENSION, runtime
from services.web.dashboard import models
from services.web.dashboard import session as login
from services.web.errors import found, in_envelope

bp = Blueprint("dashboard", __name__, template_folder="templates", url_prefix="/dashboard")
PAGE = 50
SCHEDULES_PAGE = 100
STATIC = "static"


def _render(template: str, code: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=code)


def _redirect(to: str, code: int = 302) -> Response:
    return Response(status=code, headers={"Location": to})


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    app: Flask = state.app  # type: ignore[assignment]
    made: Runtime = app.extensions[EXTENSION]
    login.configure(app, made.settings)


@bp.context_processor
def _common() -> dict[str, Any]:
    return {
        "csrf_token": login.csrf_token,
        "csrf_field": login.CSRF_FIELD,
        "key_name": session.get("key_name"),
    }


def _page_error(status: int, message: str) -> Response:
    """A refusal as a page: 401 sends the browser to the login form, and back afterwards."""
    if status == 401:
        back = models.safe_return(request.full_path, url_for("dashboard.overview"))
        return _redirect(url_for("dashboard.login_form", next=back))
    return _render("dashboard/error.html", code=status, status=status, message=message)


page = in_envelope(_page_error)


# -- login --------------------------------------------------------------------------------------


@bp.get("/login")
@public
def login_form() -> Response:
    if not login.enabled(runtime().settings):
        return _page_error(503, login.DashboardOff().message)
    return _render("dashboard/login.html", next=request.args.get("next", ""))


@bp.post("/login")
@public
@page
def log_in() -> Response:
    if not login.enabled(runtime().settings):
        return _page_error(503, login.DashboardOff().message)
    login.check_csrf(request.form.get(login.CSRF_FIELD))
    token = (request.form.get("api_key") or "").strip()
    key = lookup_key(token) if token else None
    back = models.safe_return(request.form.get("next"), url_for("dashboard.overview"))
    if key is None or not key.allows(Scope.JOBS_READ):
        why = "no such API key" if key is None else "this key lacks the scope jobs:read"
        code = 401 if key is None else 403
        return _render("dashboard/login.html", code=code, next=back, error=why)
    login.log_in(token, key)
    return _redirect(back)


@bp.post("/logout")
@requires(session=True)
@page
def log_out() -> Response:
    login.check_csrf(request.form.get(login.CSRF_FIELD))
    login.log_out()
    return _redirect(url_for("dashboard.login_form"))


@bp.get("/style.css")
@public
def style() -> Response:
    return send_from_directory(bp.root_path + "/" + STATIC, "dashboard.css")


# -- pages --------------------------------------------------------------------------------------


@bp.get("")
@bp.get("/")
@requires(Scope.JOBS_READ, session=True)
@page
def overview() -> Response:
    counts = grouped(runtime().jobs.counts())
    try:
        queues, broker_problem = health.queue_depths(), None
    except BrokerUnavailable as exc:
        queues, broker_problem = {}, str(exc)
    return _render(
        "dashboard/overview.html",
        statuses=models.status_order(counts.by_status),
        total=counts.total,
        by_type=sorted(counts.by_type.items()),
        all_statuses=[s.value for s in JobStatus],
        queues=sorted(queues.items()),
        broker_problem=broker_problem,
    )


def _jobs_page(template: str, chosen: models.JobFilter) -> Response:
    docs, next_cursor = runtime().jobs.page(chosen.state, chosen.type, PAGE, chosen.cursor)
    return _render(
        template,
        rows=[models.job_row(d) for d in docs],
        chosen=chosen,
        next_query=chosen.query(next_cursor) if next_cursor else None,
        statuses=[s.value for s in JobStatus],
        back=request.full_path,
    )


@bp.get("/jobs")
@requires(Scope.JOBS_READ, session=True)
@page
def jobs() -> Response:
    return _jobs_page("dashboard/jobs.html", models.parse_filter(request.args))


@bp.get("/dead-letters")
@requires(Scope.JOBS_READ, session=True)
@page
def dead_letters() -> Response:
    chosen = models.parse_filter({**request.args, "state": JobStatus.FAILED.value})
    return _jobs_page("dashboard/dead_letters.html", chosen)


@bp.get("/jobs/<string(length=24):job_id>")
@requires(Scope.JOBS_READ, session=True)
@page
def job(job_id: str) -> Response:
    doc = found(runtime().jobs.get(job_id), "job", job_id)
    return _render(
        "dashboard/job.html",
        job=models.job_row(doc),
        doc=doc,
        api=job_to_api(doc),
        events=models.timeline(doc),
        progress=models.progress_percent(doc),
        back=request.full_path,
    )


def _button(act: Any, job_id: str, done: str) -> Response:
    login.check_csrf(request.form.get(login.CSRF_FIELD))
    back = models.safe_return(request.form.get("back"), url_for("dashboard.job", job_id=job_id))
    try:
        doc = act(job_id)
    except SwitchboardError as exc:
        if exc.status >= 500 or exc.status == 404:
            raise
        flash(f"job {job_id}: {exc.message}", "error")
    else:
        flash(f"job {job_id} {done}: now {doc['status']}", "ok")
    return _redirect(back, code=303)


@bp.post("/jobs/<string(length=24):job_id>/retry")
@requires(Scope.JOBS_WRITE, session=True)
@page
def retry(job_id: str) -> Response:
    return _button(jobs_api.retry, job_id, "retried")


@bp.post("/jobs/<string(length=24):job_id>/cancel")
@requires(Scope.JOBS_WRITE, session=True)
@page
def cancel(job_id: str) -> Response:
    return _button(jobs_api.cancel, job_id, "cancelled")


@bp.get("/schedules")
@requires(Scope.JOBS_READ, session=True)
@page
def schedules() -> Response:
    after = models.parse_after(request.args)
    docs = runtime().schedules.page(after, SCHEDULES_PAGE)
    last = docs[-1]["_id"] if len(docs) == SCHEDULES_PAGE else None
    return _render(
        "dashboard/schedules.html", schedules=[schedule_to_api(d) for d in docs], after=last
    )


@bp.get("/tickets")
@requires(Scope.TICKETS_WRITE, session=True)
@page
def tickets() -> Response:
    agents = [agent_to_api(a) for a in runtime().tickets.all_agents()]
    return _render(
        "dashboard/tickets.html",
        stats=tickets_api.current_stats(),
        agents=sorted(agents, key=lambda a: a["name"]),
    )
