"""The dashboard: its view models, its login and CSRF, its pages and buttons (mongomock)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.core.apikeys import KeyStore, Scope
from services.core.config import Settings
from services.core.errors import InvalidRequest
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.store import JobStore, new_job
from services.web.dashboard import models

SECRET = "s" * 64
Login = Callable[..., FlaskClient]


@pytest.fixture
def config() -> Settings:
    return Settings(max_body_bytes=4096, dashboard_secret=SECRET)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def login(app: Flask, mongo: mongomock.Database) -> Login:
    """A browser-like client logged in with a new key of these scopes."""

    def make(*scopes: Scope) -> FlaskClient:
        _, token = KeyStore(mongo).create("dash", frozenset(scopes), None)
        c = app.test_client()
        csrf = _csrf(c.get("/dashboard/login").get_data(as_text=True))
        reply = c.post("/dashboard/login", data={"api_key": token, "csrf_token": csrf})
        assert reply.status_code == 302, reply.get_data(as_text=True)
        return c

    return make


def _job(store: JobStore, type_: str = "noop", status: str = "queued", **extra: object) -> str:
    doc = new_job(type_, {"n": 1}, 5, 3)
    doc.update(cast(JobDoc, {"status": status, **extra}))
    store.insert(doc)
    return str(doc["_id"])


# -- view models -----------------------------------------------------------------------------------


def test_filter_parsing_keeps_known_states_and_refuses_others() -> None:
    chosen = models.parse_filter({"state": "failed", "type": " word_count ", "cursor": ""})
    assert chosen == models.JobFilter("failed", "word_count", None)
    assert chosen.query("abc") == "state=failed&type=word_count&cursor=abc"
    assert models.parse_filter({}) == models.JobFilter()
    with pytest.raises(InvalidRequest, match="state: must be one of"):
        models.parse_filter({"state": "exploded"})
    with pytest.raises(InvalidRequest, match="type: at most"):
        models.parse_filter({"type": "x" * (models.TYPE_MAX + 1)})


def test_timeline_is_in_time_order_with_each_attempt() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    doc = new_job("noop", {}, 5, 3)
    doc.update(
        {
            "created_at": t0,
            "queued_at": t0 + timedelta(seconds=1),
            "started_at": t0 + timedelta(seconds=30),
            "finished_at": t0 + timedelta(seconds=31),
            "status": "failed",
            "attempts": 2,
            "worker": "w1@host",
            "error": "boom 2",
            "errors": [
                {"attempt": 1, "error": "boom 1", "at": t0 + timedelta(seconds=2)},
                {"attempt": 2, "error": "boom 2", "at": t0 + timedelta(seconds=31)},
            ],
            "schedule": {"name": "nightly", "tick": t0},
        }
    )
    events = models.timeline(doc)
    assert [e.what for e in events] == [
        "submitted",
        "made by schedule",
        "queued",
        "attempt 1 failed",
        "attempt 2 started",
        "attempt 2 failed",
        "failed",
    ]
    assert events[4].detail == "on w1@host"
    assert [e.at for e in events] == sorted(e.at for e in events if e.at)


def test_rows_offer_only_the_buttons_the_state_allows() -> None:
    for status, retry, cancel in [
        ("failed", True, True),  # a dead letter: Cancel dismisses it
        ("cancelled", True, False),
        ("queued", False, True),
        ("running", False, True),
        ("succeeded", False, False),
    ]:
        doc = new_job("noop", {}, 5, 3)
        doc["status"] = status
        row = models.job_row(doc)
        assert (row.may_retry, row.may_cancel) == (retry, cancel), status


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("/dashboard/jobs?state=failed", True),
        ("/dashboard", True),
        ("//evil.example/dashboard", False),
        ("https://evil.example/dashboard", False),
        ("/dashboard//evil.example", False),
        ("/jobs", False),
        (None, False),
    ],
)
def test_buttons_go_back_to_dashboard_pages_only(path: str | None, safe: bool) -> None:
    assert (models.safe_return(path, "/dashboard") == path) is safe


# -- login -----------------------------------------------------------------------------------------


def test_pages_send_a_browser_without_a_session_to_the_login(client_for: Callable) -> None:
    # A Bearer key (the API's way in) does not open the dashboard: only its session does.
    reply = client_for(Scope.ADMIN).get("/dashboard/jobs?state=failed")
    assert reply.status_code == 302
    assert reply.headers["Location"].startswith("/dashboard/login?next=")
    assert "WWW-Authenticate" not in reply.headers


def test_every_dashboard_route_but_its_login_needs_a_session(
    app: Flask, client_for: Callable
) -> None:
    open_routes = {"dashboard.login_form", "dashboard.log_in", "dashboard.style"}
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("dashboard.")]
    assert len(routes) >= 10
    for rule in routes:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "0" * 24, rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for c in (client_for(), client_for(Scope.ADMIN)):
                reply = c.open(path, method=method)
                if rule.endpoint in open_routes:
                    assert reply.status_code != 302, (method, path)
                else:
                    assert reply.status_code == 302, (method, path, reply.status_code)
                    assert reply.headers["Location"].startswith("/dashboard/login?next=")


def test_login_sets_a_strict_httponly_cookie_for_the_dashboard_only(
    app: Flask, mongo: mongomock.Database
) -> None:
    _, token = KeyStore(mongo).create("dash", frozenset({Scope.JOBS_READ}), None)
    c = app.test_client()
    csrf = _csrf(c.get("/dashboard/login").get_data(as_text=True))
    reply = c.post(
        "/dashboard/login", data={"api_key": token, "csrf_token": csrf, "next": "/dashboard/jobs"}
    )
    assert reply.status_code == 302 and reply.headers["Location"] == "/dashboard/jobs"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert cookie.startswith("switchboard_dashboard=")
    assert c.get("/dashboard").status_code == 200
    # The cookie is no key for the API, even sent there by hand.
    elsewhere = app.test_client()
    elsewhere.set_cookie("switchboard_dashboard", cookie.split(";")[0].partition("=")[2], path="/")
    assert elsewhere.get("/dashboard").status_code == 200
    assert elsewhere.get("/jobs").status_code == 401


def test_login_refuses_unknown_keys_keys_without_jobs_read_and_forged_forms(
    app: Flask, mongo: mongomock.Database
) -> None:
    _, agent = KeyStore(mongo).create("agent", frozenset({Scope.JOBS_WRITE}), None)
    c = app.test_client()
    csrf = _csrf(c.get("/dashboard/login").get_data(as_text=True))
    unknown = c.post("/dashboard/login", data={"api_key": "sb_nope", "csrf_token": csrf})
    assert unknown.status_code == 401 and "no such API key" in unknown.get_data(as_text=True)
    weak = c.post("/dashboard/login", data={"api_key": agent, "csrf_token": csrf})
    assert weak.status_code == 403 and "jobs:read" in weak.get_data(as_text=True)
    _, reader = KeyStore(mongo).create("reader", frozenset({Scope.JOBS_READ}), None)
    forged = app.test_client().post("/dashboard/login", data={"api_key": reader})
    assert forged.status_code == 403 and "out of date" in forged.get_data(as_text=True)
    assert c.get("/dashboard").status_code == 302


def test_logout_ends_the_session(login: Login) -> None:
    c = login(Scope.JOBS_READ)
    page = c.get("/dashboard").get_data(as_text=True)
    assert c.post("/dashboard/logout", data={"csrf_token": _csrf(page)}).status_code == 302
    assert c.get("/dashboard").status_code == 302


def test_without_a_secret_the_dashboard_is_off(runtime: object) -> None:
    from services.core.runtime import Runtime
    from services.web.app import create_app

    assert isinstance(runtime, Runtime)
    off = Runtime(Settings(), database=runtime.database, publisher=StubPublisher())
    reply = create_app(runtime=off).test_client().get("/dashboard/login")
    assert reply.status_code == 503 and "DASHBOARD_SECRET" in reply.get_data(as_text=True)


# -- pages -----------------------------------------------------------------------------------------


def test_overview_counts_jobs_by_state(login: Login, store: JobStore) -> None:
    _job(store, status="queued")
    _job(store, status="queued")
    _job(store, type_="sleep", status="running")
    page = login(Scope.JOBS_READ).get("/dashboard").get_data(as_text=True)
    assert re.search(r'data-state="queued">.*?<td class="num">2</td>', page, re.S)
    assert re.search(r'data-state="running">.*?<td class="num">1</td>', page, re.S)
    assert 'data-queue="jobs"' in page


def test_jobs_list_filters_by_state_and_type(login: Login, store: JobStore) -> None:
    failed = _job(store, type_="sleep", status="failed", error="boom")
    queued = _job(store, type_="noop", status="queued")
    c = login(Scope.JOBS_READ)
    by_state = c.get("/dashboard/jobs?state=failed").get_data(as_text=True)
    assert failed in by_state and queued not in by_state
    by_type = c.get("/dashboard/jobs?type=noop").get_data(as_text=True)
    assert queued in by_type and failed not in by_type
    bad = c.get("/dashboard/jobs?state=exploded")
    assert bad.status_code == 400 and "state: must be one of" in bad.get_data(as_text=True)


def test_job_page_shows_its_timeline_and_a_missing_one_is_404(
    login: Login, store: JobStore
) -> None:
    job_id = _job(store, status="running", worker="celery@w1", progress=0.4)
    c = login(Scope.JOBS_READ)
    page = c.get(f"/dashboard/jobs/{job_id}").get_data(as_text=True)
    assert "celery@w1" in page and "40%" in page and 'id="timeline"' in page
    assert c.get(f"/dashboard/jobs/{'0' * 24}").status_code == 404


def test_retry_button_retries_a_dead_letter_through_the_api_path(
    login: Login, store: JobStore, publisher: StubPublisher
) -> None:
    job_id = _job(store, status="failed", error="boom")
    c = login(Scope.JOBS_READ, Scope.JOBS_WRITE)
    page = c.get("/dashboard/dead-letters").get_data(as_text=True)
    assert job_id in page and 'class="retry"' in page
    reply = c.post(
        f"/dashboard/jobs/{job_id}/retry",
        data={"csrf_token": _csrf(page), "back": "/dashboard/dead-letters"},
    )
    assert reply.status_code == 303 and reply.headers["Location"] == "/dashboard/dead-letters"
    doc = store.get(job_id)
    assert doc is not None and doc["status"] in ("pending", "queued") and doc["attempts"] == 0
    after = c.get("/dashboard/dead-letters").get_data(as_text=True)
    assert f"job {job_id} retried: now queued" in after and f'data-job="{job_id}"' not in after


def test_buttons_need_csrf_and_jobs_write(login: Login, store: JobStore) -> None:
    job_id = _job(store, status="failed", error="boom")
    writer = login(Scope.JOBS_READ, Scope.JOBS_WRITE)
    assert writer.post(f"/dashboard/jobs/{job_id}/retry", data={}).status_code == 403
    reader = login(Scope.JOBS_READ)
    csrf = _csrf(reader.get("/dashboard").get_data(as_text=True))
    refused = reader.post(f"/dashboard/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "jobs:write" in refused.get_data(as_text=True)
    assert store.get(job_id)["status"] == "failed"  # type: ignore[index]


def test_cancel_button_cancels_and_a_conflict_is_a_message(login: Login, store: JobStore) -> None:
    job_id = _job(store, status="queued")
    c = login(Scope.JOBS_READ, Scope.JOBS_WRITE)
    csrf = _csrf(c.get("/dashboard").get_data(as_text=True))
    first = c.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    assert first.status_code == 303 and store.get(job_id)["status"] == "cancelled"  # type: ignore[index]
    again = c.post(
        f"/dashboard/jobs/{job_id}/cancel", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "job is already cancelled" in again.get_data(as_text=True)


def test_tickets_page_needs_tickets_write(login: Login) -> None:
    assert login(Scope.JOBS_READ).get("/dashboard/tickets").status_code == 403
    page = login(Scope.ADMIN).get("/dashboard/tickets")
    assert page.status_code == 200 and 'data-channel="voice"' in page.get_data(as_text=True)


def test_schedules_page_lists_schedules(login: Login, client: FlaskClient) -> None:
    made = client.post(
        "/schedules",
        json={"name": "nightly", "every_seconds": 60, "job": {"type": "noop", "payload": {}}},
    )
    assert made.status_code == 201, made.get_json()
    page = login(Scope.JOBS_READ).get("/dashboard/schedules").get_data(as_text=True)
    assert 'id="schedule-nightly"' in page and "every 60" in page
