"""A small JSON client over HTTP/1.1 keep-alive, one connection per thread, loopback only."""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 30.0
RETRIES = 3


class NotLoopback(ValueError):
    """The simulator only ever sends traffic to this machine."""


@dataclass
class Reply:
    status: int
    body: Any


def _loopback_host(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not host:
        raise NotLoopback(f"{base_url}: give an http:// URL on this machine")
    address = "127.0.0.1" if host == "localhost" else host
    try:
        if not ipaddress.ip_address(address).is_loopback:
            raise NotLoopback(f"{base_url}: only loopback addresses (127.0.0.0/8, ::1) are allowed")
    except ValueError as exc:
        raise NotLoopback(f"{base_url}: give a loopback IP address or localhost") from exc
    return address, parts.port or 80


class Client:
    def __init__(self, base_url: str, key: str) -> None:
        self.host, self.port = _loopback_host(base_url)
        self.key = key
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def call(self, method: str, path: str, body: Any = None) -> Reply:
        """One request; a dropped keep-alive connection or a 503 is retried a few times."""
        data = None if body is None else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "Connection": "keep-alive",
            "Authorization": f"Bearer {self.key}",
        }
        for attempt in range(RETRIES):
            try:
                conn = self._connection()
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (TimeoutError, http.client.HTTPException, ConnectionError):
                self._drop()
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status in (502, 503, 504) and attempt < RETRIES - 1:
                time.sleep(0.5 * (attempt + 1))
                continue
            parsed = json.loads(raw) if raw and raw.lstrip()[:1] in (b"{", b"[") else raw.decode()
            return Reply(response.status, parsed)
        raise AssertionError("not reached")

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.call("POST", path, body)

    def patch(self, path: str, body: Any) -> Reply:
        return self.call("PATCH", path, body)
