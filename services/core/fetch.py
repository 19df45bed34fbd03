"""Fetching a URL a client gave us, without letting it reach our own network.

The host is resolved once per hop; every address it resolves to must be public, and the connection
goes to one of exactly those addresses (a second lookup could be answered differently: DNS
rebinding). Redirects are followed here, one checked hop at a time. One deadline covers the
whole fetch, every read included, so a server that drips a byte at a time cannot hold a worker.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from services.core.config import Settings

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host name and port in, the addresses it stands for out, as text.
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "switchboard-fetch"
_CHUNK = 64 * 1024


class FetchFailed(Exception):
    """A fetch that brought back no body. The message is safe to show to the client."""


class FetchRefused(FetchFailed):
    """A fetch the policy forbids: trying again cannot help."""


class _OutOfTime(Exception):
    """The fetch's deadline passed."""


@dataclass(frozen=True)
class FetchPolicy:
    """What an outbound fetch may reach, and how long and how much it may read."""

    allow_hosts: frozenset[str] = frozenset()
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            allow_hosts=frozenset(settings.fetch_allow_hosts),
            connect_timeout=settings.fetch_connect_timeout,
            total_timeout=settings.fetch_total_timeout,
            max_bytes=settings.fetch_max_bytes,
        )


@dataclass(frozen=True)
class FetchResult:
    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes


def fetch(
    url: str, policy: FetchPolicy, resolve: Resolver | None = None, time_left: float | None = None
) -> FetchResult:
    """GET `url` under `policy`, following redirects; raises FetchFailed or FetchRefused.

    `time_left` is the caller's own budget (what its job has left) when that is shorter than
    the policy's total timeout.
    """
    resolve = resolve or system_resolver
    budget = policy.total_timeout if time_left is None else min(time_left, policy.total_timeout)
    caller_bound = budget < policy.total_timeout
    deadline = time.monotonic() + budget
    try:
        for _hop in range(policy.max_redirects + 1):
            target = _Target.parse(url)
            addresses = _checked_addresses(target, policy, resolve)
            connection = _PinnedConnection(target, addresses, policy, deadline)
            try:
                outcome = _exchange(connection, target, url, policy, deadline)
            finally:
                connection.close()
            if isinstance(outcome, FetchResult):
                return outcome
            url = urljoin(url, outcome)
    except _OutOfTime:
        if caller_bound:
            raise FetchFailed("the fetch did not finish within its job's time limit") from None
        raise FetchFailed(f"the fetch took longer than {policy.total_timeout:g} s") from None
    raise FetchRefused(f"refused: more than {policy.max_redirects} redirects")


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: FetchPolicy,
    resolve: Resolver | None = None,
) -> int:
    """POST `body` to `url` under `policy`, redirects not followed; the answer's status.

    Raises FetchFailed or FetchRefused, as `fetch` does.
    """
    deadline = time.monotonic() + policy.total_timeout
    target = _Target.parse(url)
    addresses = _checked_addresses(target, policy, resolve or system_resolver)
    connection = _PinnedConnection(target, addresses, policy, deadline)
    sent = {"User-Agent": USER_AGENT, "Connection": "close", **headers}
    try:
        with _failures(target, deadline, policy):
            connection.request("POST", target.path, body=body, headers=sent)
            response = connection.getresponse()
            # A little of the answer, so the server sees it read; the rest is not wanted.
            response.read(_CHUNK)
            return response.status
    finally:
        connection.close()


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet, counting any IPv4 address embedded in it."""
    if (
        not address.is_global
        # Python 3.11 calls IPv6 multicast global, so every flag is asked, not `is_global` alone.
        # (`is_reserved` covers ::/8: IPv4-compatible IPv6 such as ::127.0.0.1, and NAT64.)
        or address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    return all(is_public(inner) for inner in _embedded_ipv4(address))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    inner: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        inner.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address.teredo is not None:
        inner.extend(address.teredo)
    return inner


# Steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise FetchRefused("refused: not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise FetchRefused(f"refused: only http and https URLs are fetched, not {scheme!r}")
        if "@" in parts.netloc:
            raise FetchRefused("refused: URLs with credentials are not fetched")
        if not parts.hostname:
            raise FetchRefused("refused: the URL has no host")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path)


def _checked_addresses(target: _Target, policy: FetchPolicy, resolve: Resolver) -> list[str]:
    try:
        addresses = list(resolve(target.host, target.port))
        parsed = [ipaddress.ip_address(text) for text in addresses]
    except (OSError, UnicodeError, ValueError):
        raise FetchFailed(f"could not resolve {target.host}") from None
    if not parsed:
        raise FetchFailed(f"could not resolve {target.host}")
    # One bad address refuses the host: which one a connection would use is not ours to pick.
    if target.host not in policy.allow_hosts and not all(map(is_public, parsed)):
        # The address itself stays out of the message: it would map an internal network.
        raise FetchRefused(f"refused: {target.host} is not a public address")
    return addresses


def _exchange(
    connection: _PinnedConnection, target: _Target, url: str, policy: FetchPolicy, deadline: float
) -> FetchResult | str:
    """One request and its response: the result, or where a redirect points."""
    with _failures(target, deadline):
        connection.request(
            "GET", target.path, headers={"User-Agent": USER_AGENT, "Connection": "close"}
        )
        response = connection.getresponse()
        if response.status in REDIRECTS and response.getheader("Location"):
            return response.getheader("Location", "")
        if not 200 <= response.status < 300:
            raise FetchFailed(f"{target.host} answered HTTP {response.status}")
        declared = response.getheader("Content-Length", "")
        if declared.isdigit() and int(declared) > policy.max_bytes:
            raise _too_large(policy)
        body = _read_body(response, policy)
    headers = response.headers
    return FetchResult(
        url, response.status, headers.get_content_type(), headers.get_content_charset(), body
    )


@contextmanager
def _failures(
    target: _Target, deadline: float, policy: FetchPolicy | None = None
) -> Iterator[None]:
    """A request's failures as FetchRefused or FetchFailed (or _OutOfTime, which `fetch` words
    for its caller; with `policy`, worded here)."""
    try:
        yield
    except http.client.InvalidURL:
        raise FetchRefused("refused: not a valid URL") from None
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            if policy is not None:
                raise FetchFailed(f"no answer within {policy.total_timeout:g} s") from None
            raise _OutOfTime from None
        # External failures are summarised: their detail helps no client and maps networks.
        kind = "secure connection" if isinstance(exc, ssl.SSLError) else "connection"
        raise FetchFailed(f"the {kind} to {target.host} failed") from None


def _read_body(response: http.client.HTTPResponse, policy: FetchPolicy) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_CHUNK):
        size += len(chunk)
        if size > policy.max_bytes:
            raise _too_large(policy)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(policy: FetchPolicy) -> FetchRefused:
    return FetchRefused(f"refused: the body is larger than {policy.max_bytes} bytes")


# Connections ------------------------------------------------------------------------------------


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _arm(sock: socket.socket, deadline: float) -> None:
    """Give the next socket operation only the time left, so no read outlives the deadline."""
    sock.settimeout(_left(deadline))


class _DeadlineSocket(socket.socket):
    deadline = 0.0

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        _arm(self, self.deadline)
        return super().recv_into(buffer, nbytes, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    deadline = 0.0

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        _arm(self, self.deadline)
        return super().recv_into(buffer, nbytes, flags)


@cache
def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineSSLSocket
    return context


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP or HTTPS to addresses already checked, while Host, SNI and the certificate name the
    host of the URL."""

    def __init__(
        self, target: _Target, addresses: list[str], policy: FetchPolicy, deadline: float
    ) -> None:
        super().__init__(target.host, target.port, timeout=policy.connect_timeout)
        # Leaves the port out of the Host header when it is the scheme's own.
        self.default_port = DEFAULT_PORTS[target.scheme]
        self._tls = target.scheme == "https"
        self._addresses = addresses
        self._connect_timeout = policy.connect_timeout
        self._deadline = deadline

    def connect(self) -> None:
        sock = self._open()
        if self._tls:
            try:
                tls = _tls_context().wrap_socket(sock, server_hostname=self.host)
            except OSError:
                sock.close()
                raise
            assert isinstance(tls, _DeadlineSSLSocket)
            tls.deadline = self._deadline
            sock = tls
        self.sock = sock

    def _open(self) -> socket.socket:
        for text in self._addresses:
            family = socket.AF_INET6 if ipaddress.ip_address(text).version == 6 else socket.AF_INET
            sock = _DeadlineSocket(family, socket.SOCK_STREAM)
            sock.deadline = self._deadline
            try:
                sock.settimeout(min(self._connect_timeout, _left(self._deadline)))
                sock.connect((text, self.port))
            except OSError:
                sock.close()
                continue
            _arm(sock, self._deadline)
            return sock
        raise OSError("no address accepted the connection")
