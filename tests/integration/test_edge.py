"""The edge against real processes: the test stack's Nginx and Flower, and, for what needs other
settings (a low rate limit, the admin-key login of /flower/), an Nginx of its own rendered from
the same template and entry point, started in a fraction of a second."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
from base64 import b64encode
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.client import Api, Reply, wait_for
from tools.localstack.credentials import flower_login
from tools.localstack.stack import LocalStack, free_ports
from tools.localstack.topology import REPO

ADMIN_KEY = "edge-test-admin-key"
NGINX_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def raw_call(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
    """One request by http.client, which sends what it is given (huge URIs and headers too)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read().decode())
    finally:
        conn.close()


def assert_json_error(reply: Reply, status: int) -> None:
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    body = json.loads(reply.text)
    assert set(body) == {"error"} and body["error"], body


class FakeWebReplica(BaseHTTPRequestHandler):
    """GET /auth/flower as the web replicas answer it (204 for an admin key, else 401 with a
    Basic challenge); anything else 200."""

    def do_GET(self) -> None:
        if self.path != "/auth/flower":
            self._answer(200, b'{"ok": true}')
        elif self.headers.get("Authorization") == f"Bearer {ADMIN_KEY}":
            self._answer(204, b"")
        else:
            self._answer(401, b'{"error": "missing or invalid API key"}', challenge=True)

    def _answer(self, status: int, body: bytes, challenge: bool = False) -> None:
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="switchboard"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_web() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeWebReplica)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def own_nginx(tmp_path: Path, fake_web: int) -> Iterator[Callable[..., int]]:
    """Start Nginx from nginx/entrypoint.sh in front of the fake web replica; returns its port."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> int:
        assert shutil.which("nginx", path=NGINX_PATH), "nginx is required (apt-get install nginx)"
        (port,) = free_ports(1)
        settings = {
            "PATH": NGINX_PATH,
            "HTTP_PORT": str(port),
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "WEB_UPSTREAM_SERVERS": f"server 127.0.0.1:{fake_web};",
            "FLOWER_UPSTREAM": f"127.0.0.1:{fake_web}",
            "NGINX_RUN_DIR": str(tmp_path / f"nginx-{port}"),
            "NGINX_FLOWER_AUTH": "flower",
            **env,
        }
        process = subprocess.Popen([str(REPO / "nginx" / "entrypoint.sh")], env=settings)
        started.append(process)
        wait_for(lambda: process.poll() is not None or _listening(port), 10, "nginx to listen")
        assert process.poll() is None, "nginx exited at start"
        return port

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- the test stack's own Nginx ---------------------------------------------------------------


def test_nginx_hides_its_version_and_sends_security_headers(stack: LocalStack) -> None:
    port = stack.config.http_port
    api_answer = raw_call(port, "GET", "/health")
    assert api_answer.headers["Server"] == "nginx", "no version"
    assert api_answer.headers["X-Content-Type-Options"] == "nosniff"
    assert api_answer.headers["X-Frame-Options"] == "DENY"
    assert api_answer.headers["Referrer-Policy"] == "no-referrer"
    strict = api_answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in strict and "frame-ancestors 'none'" in strict
    # Swagger UI's page (whatever it answers: a login may be asked) may run its own scripts.
    docs = raw_call(port, "GET", "/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/health", {"X-Padding": "a" * 20_000}, 400),  # header over the buffers: 494
        ("GET", "/jobs/" + "a" * 20_000, {}, 414),
        ("TRACE", "/health", {}, 405),
    ],
    ids=["header-too-large", "uri-too-long", "trace"],
)
def test_nginx_errors_are_json(
    stack: LocalStack, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    reply = raw_call(stack.config.http_port, method, path, headers)
    assert_json_error(reply, status)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/jobs?x=" + "a" * 6000, {}),  # past Gunicorn's default request line, within Nginx's
        ("/jobs", {f"X-H{i}": "1" for i in range(150)}),  # past Gunicorn's 100 fields
    ],
    ids=["long-request-line", "many-headers"],
)
def test_what_nginx_lets_through_the_app_answers_in_json(
    stack: LocalStack, path: str, headers: dict[str, str]
) -> None:
    # No key: the application's own 401, not an HTML page from Gunicorn.
    assert_json_error(raw_call(stack.config.http_port, "GET", path, headers), 401)


def test_flower_asks_for_its_credentials_on_its_own_port(stack: LocalStack) -> None:
    flower = Api(f"http://127.0.0.1:{stack.config.flower_port}")
    for reply in (
        flower.get("/flower/api/workers"),
        flower.post("/flower/api/task/revoke/00000000-0000-0000-0000-000000000000"),
        flower.get("/flower/"),
    ):
        assert reply.status == 401, reply.text
        assert "Access-Control-Allow-Origin" not in reply.headers
    login = b64encode(flower_login(stack.config.data_dir).encode()).decode()
    allowed = flower.get("/flower/api/workers", headers={"Authorization": f"Basic {login}"})
    assert allowed.status == 200 and isinstance(allowed.json, dict)


def test_flower_is_closed_through_nginx_without_an_admin_key(api: Api) -> None:
    anonymous = Api(api.base_url)
    for path in ("/flower/api/workers", "/flower/"):
        refused = anonymous.get(path)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="switchboard"'
    assert api.with_new_key("jobs:read", "jobs:write").get("/flower/api/workers").status == 403
    assert api.get("/flower/api/workers").status == 200


# --- an Nginx of its own ----------------------------------------------------------------------


def test_flower_opens_with_an_admin_key_and_nginx_brings_the_credentials(
    stack: LocalStack, own_nginx: Callable[..., int]
) -> None:
    port = own_nginx(
        NGINX_FLOWER_AUTH="api-key",
        FLOWER_UPSTREAM=f"127.0.0.1:{stack.config.flower_port}",
        FLOWER_BASIC_AUTH=flower_login(stack.config.data_dir),
    )
    refused = raw_call(port, "GET", "/flower/api/workers")
    assert_json_error(refused, 401)
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="switchboard"'
    # Flower's internal credentials are no way in: only an admin key is.
    login = b64encode(flower_login(stack.config.data_dir).encode()).decode()
    internal = raw_call(port, "GET", "/flower/api/workers", {"Authorization": f"Basic {login}"})
    assert internal.status == 401
    opened = raw_call(port, "GET", "/flower/api/workers", {"Authorization": f"Bearer {ADMIN_KEY}"})
    assert opened.status == 200 and isinstance(json.loads(opened.text), dict)


def test_a_client_over_the_rate_limit_gets_429_in_json(own_nginx: Callable[..., int]) -> None:
    port = own_nginx(NGINX_RATE_LIMIT="1r/m", NGINX_RATE_BURST="2")
    # One request, then the burst of two, are let through; the next is refused at once.
    for _ in range(3):
        assert raw_call(port, "GET", "/anything").status == 200
    refused = raw_call(port, "GET", "/anything")
    assert_json_error(refused, 429)
    assert refused.headers["Retry-After"] == "1"
