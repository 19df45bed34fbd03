"""The outbound fetch policy, against servers and listeners these tests start on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from services.core import fetch as fetch_module
from services.core.config import Settings
from services.core.fetch import FetchFailed, FetchPolicy, FetchRefused, fetch, is_public
from tests.loopback import LOCAL, Listener, Route, answer, drip, redirect, serve

# Small limits keep the slow and large cases fast.
POLICY = FetchPolicy(connect_timeout=1.0, total_timeout=2.0, max_bytes=1024)


@pytest.fixture
def listener() -> Iterator[Listener]:
    probe = Listener()
    yield probe
    probe.sock.close()


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a test connects to; only 127.0.0.1 is really dialled, whatever the code."""
    seen: list[object] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        seen.append(address)
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise ConnectionRefusedError(111, "the tests dial nothing but 127.0.0.1")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return seen


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> fetch_module.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return table[host]

    return resolve


# Refusals -----------------------------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "0.0.0.0",
    "[::]",
    "2130706433",
    "0x7f.1",
    "017700000001",
    "127.1",
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "[2002:7f00:1::]",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_this_machine_is_refused_before_connecting(
    host: str, listener: Listener, connects: list[object]
) -> None:
    with pytest.raises(FetchRefused, match="not a public address"):
        fetch(f"http://{host}:{listener.port}/stats", POLICY)
    assert connects == []
    assert not listener.contacted()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://[fd00::1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a00:1::]/",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    ],
)
def test_private_and_special_addresses_are_refused(url: str, connects: list[object]) -> None:
    with pytest.raises(FetchRefused, match="not a public address"):
        fetch(url, POLICY)
    assert connects == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1:{port}/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:{port}/", "only http and https"),
        ("http://user:secret@127.0.0.1:{port}/", "credentials"),
        ("http://user@127.0.0.1:{port}/", "credentials"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http:///no-host", "no host"),
    ],
)
def test_other_schemes_credentials_and_broken_urls_are_refused(
    url: str, reason: str, listener: Listener, connects: list[object]
) -> None:
    # Even the allow-list does not lift these.
    with pytest.raises(FetchRefused, match=reason):
        fetch(url.format(port=listener.port), LOCAL)
    assert connects == []
    assert not listener.contacted()


def test_one_private_address_among_public_ones_refuses_the_host(connects: list[object]) -> None:
    mixed = resolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(FetchRefused):
        fetch("http://mixed.test/", POLICY, mixed)
    assert connects == []


def test_a_name_that_resolves_inside_is_refused(listener: Listener) -> None:
    inside = resolver({"innocent.example": ["127.0.0.1"]})
    with pytest.raises(FetchRefused, match=r"innocent\.example is not a public address"):
        fetch(f"http://innocent.example:{listener.port}/", POLICY, inside)
    assert not listener.contacted()


def test_an_open_and_a_closed_internal_port_look_the_same(listener: Listener) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    errors = []
    for port in (listener.port, closed_port):
        with pytest.raises(FetchRefused) as caught:
            fetch(f"http://127.0.0.1:{port}/", POLICY)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_external_failures_are_summarised(connects: list[object]) -> None:
    public = resolver({"public.test": ["93.184.216.34"]})
    with pytest.raises(FetchFailed) as caught:
        fetch("http://public.test/", POLICY, public)
    assert not isinstance(caught.value, FetchRefused)
    assert str(caught.value) == "the connection to public.test failed"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert connects == [("93.184.216.34", 80)]


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# Redirects ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://[::1]:{port}/",
        "ftp://127.0.0.1:{port}/",
        "http://user:pw@127.0.0.1:{port}/",
    ],
)
def test_a_redirect_from_an_allowed_server_to_loopback_is_refused(
    location: str, listener: Listener, connects: list[object]
) -> None:
    # Only the name "127.0.0.1" is allowed: the first hop. Every other hop is checked again.
    target = location.format(port=listener.port)
    with serve(redirect(target)) as port, pytest.raises(FetchRefused):
        fetch(f"http://127.0.0.1:{port}/", LOCAL)
    assert connects == [("127.0.0.1", port)]
    assert not listener.contacted()


def hops(count: int) -> Route:
    """Redirects to itself `count` times, relatively, then answers."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        done = int(handler.path.rsplit("/", 1)[1] or 0)
        if done < count:
            redirect(f"/hop/{done + 1}")(handler)
        else:
            answer(b"arrived")(handler)

    return route


def test_five_redirects_are_followed_and_a_sixth_is_refused() -> None:
    with serve(hops(5)) as port:
        result = fetch(f"http://127.0.0.1:{port}/hop/0", LOCAL)
    assert (result.body, result.url) == (b"arrived", f"http://127.0.0.1:{port}/hop/5")
    with serve(hops(6)) as port, pytest.raises(FetchRefused, match="more than 5 redirects"):
        fetch(f"http://127.0.0.1:{port}/hop/0", LOCAL)


# Limits -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "drops"),
    [
        (b"HTTP/1.0 200 OK\r\nContent-Length: 30\r\n\r\n", 30),  # a slow body
        (b"HTTP/1.0 200 OK\r\nX-Slow: ", 30),  # slow headers
    ],
)
def test_a_slow_drip_is_cut_at_the_total_deadline(before: bytes, drops: int) -> None:
    # Each byte comes well within any per-read timeout; only the overall deadline can stop it.
    quick = FetchPolicy(
        allow_hosts=frozenset({"127.0.0.1"}), connect_timeout=1.0, total_timeout=0.4
    )
    with (
        serve(drip(before, drops)) as port,
        pytest.raises(FetchFailed, match=r"longer than 0\.4 s"),
    ):
        fetch(f"http://127.0.0.1:{port}/", quick)


def test_a_slow_drip_is_cut_when_the_job_s_time_runs_out() -> None:
    # The job has less time left than the fetch's own total timeout: its time decides.
    with (
        serve(drip(b"HTTP/1.0 200 OK\r\nContent-Length: 30\r\n\r\n", 30)) as port,
        pytest.raises(FetchFailed, match=r"^the fetch did not finish within its job's time limit$"),
    ):
        fetch(f"http://127.0.0.1:{port}/", LOCAL, time_left=0.3)


def test_a_job_with_more_time_than_the_fetch_keeps_the_fetch_s_timeout() -> None:
    quick = FetchPolicy(
        allow_hosts=frozenset({"127.0.0.1"}), connect_timeout=1.0, total_timeout=0.3
    )
    with (
        serve(drip(b"HTTP/1.0 200 OK\r\nContent-Length: 30\r\n\r\n", 30)) as port,
        pytest.raises(FetchFailed, match=r"longer than 0\.3 s"),
    ):
        fetch(f"http://127.0.0.1:{port}/", quick, time_left=100)


def unsized(size: int) -> Route:
    """A body with no Content-Length, delimited by closing the connection."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        handler.wfile.write(b"a" * size)

    return route


@pytest.mark.parametrize("route", [answer(b"a" * 5000), unsized(5000)])
def test_an_oversized_body_is_cut(route: Route) -> None:
    with serve(route) as port, pytest.raises(FetchRefused, match="larger than 1024 bytes"):
        fetch(f"http://127.0.0.1:{port}/", LOCAL)


def test_a_body_of_exactly_the_limit_is_kept() -> None:
    with serve(unsized(1024)) as port:
        assert fetch(f"http://127.0.0.1:{port}/", LOCAL).body == b"a" * 1024


# What does get through --------------------------------------------------------------------------


def test_an_allowed_host_is_fetched() -> None:
    page = answer(b"<p>hello</p>", "text/html; charset=iso-8859-1")
    with serve(page) as port:
        result = fetch(f"http://127.0.0.1:{port}/page?q=1", LOCAL)
    assert (result.status, result.body) == (200, b"<p>hello</p>")
    assert (result.content_type, result.charset) == ("text/html", "iso-8859-1")


def echo_host(handler: BaseHTTPRequestHandler) -> None:
    answer(str(handler.headers["Host"]).encode())(handler)


def test_the_checked_address_is_dialled_under_the_original_host_name() -> None:
    calls: list[str] = []
    # The system resolver has never heard of intranet.test: a second lookup would fail.
    intranet = resolver({"intranet.test": ["127.0.0.1"]}, calls)
    policy = FetchPolicy(allow_hosts=frozenset({"intranet.test"}))
    with serve(echo_host) as port:
        result = fetch(f"http://intranet.test:{port}/", policy, intranet)
    assert result.body == f"intranet.test:{port}".encode()
    assert calls == ["intranet.test"]


def test_an_error_status_is_a_failure_worth_retrying() -> None:
    with serve(answer(b"busy", status=503)) as port, pytest.raises(FetchFailed) as caught:
        fetch(f"http://127.0.0.1:{port}/", LOCAL)
    assert str(caught.value) == "127.0.0.1 answered HTTP 503"
    assert not isinstance(caught.value, FetchRefused)


def test_the_policy_comes_from_the_settings() -> None:
    policy = FetchPolicy.from_settings(
        Settings(
            fetch_allow_hosts=("intranet.test",),
            fetch_connect_timeout=1.5,
            fetch_total_timeout=7.0,
            fetch_max_bytes=99,
        )
    )
    assert policy == FetchPolicy(frozenset({"intranet.test"}), 1.5, 7.0, 99, 5)


# TLS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for intranet.test, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=intranet.test"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *(
                "-addext",
                "subjectAltName=DNS:intranet.test",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def trusted(certificate: tuple[Path, Path]) -> Iterator[tuple[Path, Path]]:
    """The module's own TLS context, trusting the test certificate as well, for one test."""
    fetch_module._tls_context.cache_clear()
    fetch_module._tls_context().load_verify_locations(certificate[0])
    yield certificate
    fetch_module._tls_context.cache_clear()


def test_https_checks_the_certificate_against_the_host_name(trusted: tuple[Path, Path]) -> None:
    cert, key = trusted
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    names = resolver({"intranet.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = FetchPolicy(allow_hosts=frozenset({"intranet.test", "other.test"}))

    with serve(echo_host, server_side) as port:
        good = fetch(f"https://intranet.test:{port}/", policy, names)
        with pytest.raises(FetchFailed, match=r"secure connection to other\.test failed"):
            fetch(f"https://other.test:{port}/", policy, names)
    assert good.body == f"intranet.test:{port}".encode()
