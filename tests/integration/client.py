"""A small HTTP client for the tests: status, headers and parsed body of each call."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class Api:
    def __init__(self, base_url: str, key: str | None = None) -> None:
        """A client that sends `key` as its API key; None: an anonymous one."""
        self.base_url, self.key = base_url, key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.key is not None:
            request.add_header("Authorization", f"Bearer {self.key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read().decode())

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def with_new_key(self, *scopes: str) -> Api:
        """A client with a key of its own with these scopes, made with this client's (admin) key."""
        made = self.post("/keys", {"name": "test", "scopes": list(scopes)})
        assert made.status == 201, made.text
        return Api(self.base_url, made.json["key"])

    def submit(self, type_: str, payload: Any, **fields: Any) -> dict[str, Any]:
        reply = self.post("/jobs", {"type": type_, "payload": payload, **fields})
        assert reply.status == 202, reply.text
        return dict(reply.json)

    def job(self, job_id: str) -> dict[str, Any]:
        reply = self.get(f"/jobs/{job_id}")
        assert reply.status == 200, reply.text
        return dict(reply.json)

    def wait_job(
        self, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        return wait_for(lambda: _matching(self.job(job_id), until), timeout, f"job {job_id}")

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_job(job_id, lambda j: j["status"] in statuses, timeout)


def _matching(value: T, until: Callable[[T], bool]) -> T | None:
    return value if until(value) else None


def wait_for(probe: Callable[[], T | None], timeout: float, what: str = "condition") -> T:
    """Poll until `probe` returns something; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(0.2)
