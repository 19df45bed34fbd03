"""API keys: 401 without one on every route but /health, 403 without the scope, own things only."""

import base64
import json
import re
from pathlib import Path

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.core.apikeys import KeyStore, Scope
from services.core.config import Settings
from services.core.jobs.publisher import StubPublisher
from services.core.runtime import Runtime
from services.core.tickets import dispatch
from services.core.tickets.store import TicketStore
from services.keys import __main__ as keys_command
from services.web.app import create_app
from tests.unit.conftest import ClientFor
from tests.unit.ticket_worker import TicketWorker

AGENT = {"name": "Ada", "skills": [], "channels": {"text": {"capacity": 2}}}


@pytest.fixture(autouse=True)
def _no_ticket_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "_send", lambda *_args: None)


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"\1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


def test_every_route_but_health_answers_401_without_a_valid_key(
    app: Flask, client_for: ClientFor
) -> None:
    anonymous = client_for()
    wrong = client_for()
    wrong.environ_base["HTTP_AUTHORIZATION"] = "Bearer sb_not-a-key-that-anyone-was-given"
    routes = _routes(app)
    assert len(routes) >= 20
    for endpoint, method, path in routes:
        if endpoint.startswith("dashboard."):
            continue  # pages with a login form of their own: tests/unit/test_dashboard.py
        for c in (anonymous, wrong):
            reply = c.open(path, method=method, json={})
            if endpoint == "system.get_health":
                assert reply.status_code in (200, 503)
            else:
                assert reply.status_code == 401, (method, path, reply.status_code)
    assert anonymous.get("/no-such-route").status_code == 401


def test_every_view_says_who_may_call_it(app: Flask) -> None:
    # A view without a declaration is admin-only; naming it keeps the choice deliberate.
    for endpoint, view in app.view_functions.items():
        if endpoint != "static":
            assert hasattr(view, "switchboard_access"), endpoint


def test_the_refusal_says_how_to_log_in(client_for: ClientFor) -> None:
    anonymous = client_for()
    api = anonymous.get("/jobs")
    assert api.get_json() == {"error": "missing or invalid API key"}
    assert api.headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert anonymous.get("/docs").headers["WWW-Authenticate"] == 'Basic realm="switchboard"'
    # The seed systems' routes refuse in their own envelopes.
    word_count = anonymous.post("/word-count", json={"url": "http://example.com"})
    assert word_count.status_code == 401
    assert word_count.get_json() == {"success": False, "message": "missing or invalid API key"}
    event = anonymous.post("/api/event/v1", json={})
    assert (event.status_code, event.mimetype) == (401, "text/plain")


@pytest.mark.parametrize(
    ("scope", "method", "path"),
    [
        (Scope.JOBS_READ, "POST", "/jobs"),
        (Scope.JOBS_READ, "POST", "/jobs/batch"),
        (Scope.JOBS_READ, "POST", "/word-count"),
        (Scope.JOBS_WRITE, "GET", "/jobs"),
        (Scope.JOBS_WRITE, "GET", "/stats"),
        (Scope.JOBS_WRITE, "POST", "/tickets"),
        (Scope.TICKETS_WRITE, "POST", "/jobs"),
        (Scope.TICKETS_WRITE, "POST", "/agents"),
        (Scope.TICKETS_WRITE, "PATCH", "/agents/a1"),
        (Scope.TICKETS_AGENT, "GET", "/agents"),
        (Scope.TICKETS_AGENT, "POST", "/tickets"),
        (Scope.TICKETS_AGENT, "GET", "/tickets/stats"),
        (Scope.TICKETS_WRITE, "GET", "/keys"),
        (Scope.JOBS_WRITE, "POST", "/keys"),
        (Scope.TICKETS_WRITE, "GET", "/auth/flower"),
    ],
)
def test_a_key_without_the_scope_gets_403(
    client_for: ClientFor, scope: Scope, method: str, path: str
) -> None:
    agent_id = "a1" if scope is Scope.TICKETS_AGENT else None
    reply = client_for(scope, agent_id=agent_id).open(path, method=method, json={})
    assert reply.status_code == 403
    body = reply.get_json()  # the seed routes' envelope says it in `message`
    assert (body.get("error") or body["message"]).startswith("this key lacks the scope")


def test_a_submitter_reads_its_own_jobs_and_no_one_elses(client_for: ClientFor) -> None:
    mine, theirs = client_for(Scope.JOBS_WRITE), client_for(Scope.JOBS_WRITE)
    job = mine.post("/jobs", json={"type": "noop"}).get_json()
    assert mine.get(f"/jobs/{job['id']}").status_code == 200
    assert theirs.get(f"/jobs/{job['id']}").status_code == 403
    assert theirs.post(f"/jobs/{job['id']}/cancel").status_code == 403
    assert client_for(Scope.JOBS_READ).get(f"/jobs/{job['id']}").status_code == 200
    assert mine.post(f"/jobs/{job['id']}/cancel").get_json()["status"] == "cancelled"


def test_an_agent_key_acts_on_its_own_agent_and_tickets_only(
    client: FlaskClient, client_for: ClientFor, mongo: mongomock.Database
) -> None:
    ada = client.post("/agents", json=AGENT).get_json()["id"]
    bob = client.post("/agents", json={**AGENT, "name": "Bob"}).get_json()["id"]
    ticket = client.post("/tickets", json={"channel": "text"}).get_json()["id"]
    TicketWorker(TicketStore(mongo)).assign(ticket)
    owner = client.get(f"/tickets/{ticket}").get_json()["agent_id"]
    other = bob if owner == ada else ada
    as_owner = client_for(Scope.TICKETS_AGENT, agent_id=owner)
    as_other = client_for(Scope.TICKETS_AGENT, agent_id=other)

    assert as_owner.get(f"/agents/{owner}").status_code == 200
    assert as_owner.get(f"/agents/{other}").status_code == 403
    assert as_owner.patch(f"/agents/{other}", json={"status": "away"}).status_code == 403
    assert as_owner.patch(f"/agents/{owner}", json={"skills": ["fr"]}).status_code == 403
    assert as_owner.get(f"/tickets?agent_id={other}").status_code == 403
    assert [t["id"] for t in as_owner.get("/tickets").get_json()["items"]] == [ticket]
    assert as_other.get(f"/tickets/{ticket}").status_code == 403
    assert as_other.post(f"/tickets/{ticket}/complete").status_code == 403
    assert as_owner.get(f"/tickets/{ticket}").status_code == 200
    assert as_owner.post(f"/tickets/{ticket}/complete").get_json()["status"] == "completed"
    away = as_owner.patch(f"/agents/{owner}", json={"status": "away"})
    assert away.get_json()["status"] == "away"


def test_admins_make_list_and_revoke_keys(
    client: FlaskClient, mongo: mongomock.Database, publisher: StubPublisher
) -> None:
    app = create_app(
        runtime=Runtime(Settings(auth_cache_seconds=0), database=mongo, publisher=publisher)
    )
    made = client.post("/keys", json={"name": "ci", "scopes": ["jobs:write"]})
    assert made.status_code == 201
    token, key_id = made.get_json()["key"], made.get_json()["id"]
    listed = client.get("/keys").get_json()["items"]
    assert key_id in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert token not in json.dumps(list(mongo["api_keys"].find({}, {"_id": 0})), default=str)

    ci = app.test_client()
    ci.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert ci.post("/jobs", json={"type": "noop"}).status_code == 202
    assert client.delete(f"/keys/{key_id}").status_code == 204
    assert ci.post("/jobs", json={"type": "noop"}).status_code == 401
    assert client.delete(f"/keys/{key_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "scopes": ["root"]}, 400, "scopes.0"),
        ({"name": "x", "scopes": []}, 400, "scopes"),
        ({"name": "x", "scopes": ["tickets:agent"]}, 400, "agent_id"),
        ({"name": "x", "scopes": ["jobs:read"], "agent_id": "a1"}, 404, "agent_id"),
    ],
)
def test_bad_key_requests_name_the_field(
    client: FlaskClient, body: dict, status: int, field: str
) -> None:
    reply = client.post("/keys", json=body)
    assert (reply.status_code, reply.get_json()["field"]) == (status, field)


def test_a_browser_logs_in_with_the_key_as_basic_password(
    client_for: ClientFor, mongo: mongomock.Database
) -> None:
    _, token = KeyStore(mongo).create("ops", frozenset({Scope.ADMIN}))
    login = {"Authorization": "Basic " + base64.b64encode(f"ops:{token}".encode()).decode()}
    assert client_for().get("/auth/flower", headers=login).status_code == 204
    assert client_for().get("/auth/flower").status_code == 401


def test_the_first_start_makes_one_admin_key_in_a_private_file(
    mongo: mongomock.Database, tmp_path: Path
) -> None:
    store = KeyStore(mongo)
    store.ensure_indexes()
    assert "created" in store.ensure_admin("", tmp_path)
    assert "see" in store.ensure_admin("", tmp_path)
    token = (tmp_path / "admin-key").read_text().strip()
    assert (tmp_path / "admin-key").stat().st_mode & 0o777 == 0o600
    assert [k.scopes for k in store.all()] == [frozenset({Scope.ADMIN})]
    assert store.find(token) is not None


def test_a_provided_admin_key_is_stored_once(mongo: mongomock.Database, tmp_path: Path) -> None:
    store = KeyStore(mongo)
    provided = "ci-provided-admin-key-0123456789"
    store.ensure_admin(provided, tmp_path)
    store.ensure_admin(provided, tmp_path)
    key = store.find(provided)
    assert key is not None and key.is_admin and len(store.all()) == 1
    assert not (tmp_path / "admin-key").exists()


def test_the_keys_command_makes_lists_and_revokes(
    runtime: Runtime,
    mongo: mongomock.Database,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keys_command, "process_runtime", lambda: runtime)
    keys_cli = keys_command.main
    made_ok = keys_cli(["create", "--name", "ci", "--scope", "jobs:read", "--scope", "jobs:write"])
    assert made_ok == 0
    made = json.loads(capsys.readouterr().out)
    assert made["scopes"] == ["jobs:read", "jobs:write"]
    assert KeyStore(mongo).find(made["key"]) is not None
    assert keys_cli(["list"]) == 0
    assert made["id"] in capsys.readouterr().out
    assert keys_cli(["revoke", made["id"]]) == 0
    assert KeyStore(mongo).find(made["key"]) is None
    assert keys_cli(["revoke", made["id"]]) == 1
