"""The client side of a drill: many concurrent clients submit jobs as fast as the stack answers
until enough have been accepted, and every answer is remembered.

Each job carries a unique token in its payload, so the audit can find every job the service
recorded for a request, including requests whose answer was an error.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tools.localstack.http import headers

# A request that got no HTTP answer at all (refused, reset, timed out) is counted under 0.
NO_ANSWER = 0
REFUSED = 503
# A client that was refused or got no answer waits this long before its next request: a real
# client backs off, and clients that spin on instant 503s would take the CPU the stack needs to
# recover. Short beside the recoveries measured, so it hardly delays the first accepted job.
PAUSE_AFTER_ERROR = 0.2
# Longer than Nginx's proxy_read_timeout (60 s), so that a slow request is answered by the stack
# (Nginx's 504) rather than given up by the client: the drill reports what the stack does.
REQUEST_TIMEOUT = 75.0


@dataclass
class Sent:
    token: str
    at: float  # when the request was sent, wall clock, comparable with the service's timestamps
    answered: float
    status: int
    job_id: str | None
    # For a request without an HTTP answer: why (the exception's class name).
    failure: str = ""


@dataclass
class Load:
    """`clients` threads, each on its own keep-alive connection, submit `job_type` jobs back to back
    until `target` have been accepted or `seconds` have passed."""

    base_url: str
    key: str
    job_type: str
    payload: dict[str, Any]
    token_field: str
    target: int
    clients: int = 32
    seconds: float = 900.0
    sent: list[Sent] = field(default_factory=list)
    _accepted: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _progress: threading.Condition = field(init=False)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._progress = threading.Condition(self._lock)

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.seconds
        for i in range(self.clients):
            thread = threading.Thread(target=self._client, name=f"load-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait_accepted(self, count: int) -> None:
        """Until `count` jobs have been accepted or the load has ended."""
        with self._progress:
            self._progress.wait_for(lambda: self._accepted >= count or self._ended())

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()

    def _ended(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def _claim(self) -> bool:
        """Whether this client should send another request. A request is sent only while the
        accepted ones plus those in flight fall short of `target`, so exactly `target` jobs are
        accepted; a client waits while the last ones are in flight, in case one is refused."""
        with self._progress:
            while time.monotonic() < self._deadline:
                if self._accepted >= self.target:
                    return False
                if self._accepted + self._in_flight < self.target:
                    self._in_flight += 1
                    return True
                self._progress.wait(0.5)
        return False

    def _client(self) -> None:
        url = urllib.parse.urlsplit(self.base_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, REQUEST_TIMEOUT)
        try:
            while self._claim():
                sent = self._submit_one(conn)
                with self._progress:
                    self._in_flight -= 1
                    self.sent.append(sent)
                    if sent.status == 202 and sent.job_id:
                        self._accepted += 1
                    self._progress.notify_all()
                if sent.status != 202:
                    time.sleep(PAUSE_AFTER_ERROR)
        finally:
            conn.close()
            with self._progress:
                self._progress.notify_all()

    def _submit_one(self, conn: http.client.HTTPConnection) -> Sent:
        token = uuid.uuid4().hex
        body = json.dumps(
            {"type": self.job_type, "payload": {**self.payload, self.token_field: token}}
        )
        at = time.time()
        try:
            conn.request("POST", "/jobs", body, headers(self.key))
            response = conn.getresponse()
            status, reply = response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            # The connection is in an unknown state: the next request opens a new one.
            conn.close()
            return Sent(token, at, time.time(), NO_ANSWER, None, type(error).__name__)
        job_id = None
        if status == 202:
            # A 202 without a readable id counts as an error under "202": nothing to audit.
            with contextlib.suppress(ValueError, KeyError, TypeError):
                job_id = json.loads(reply)["id"]
        return Sent(token, at, time.time(), status, job_id)

    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 202 and s.job_id]

    def errors(self) -> dict[str, int]:
        """Requests not accepted, by status; those without an answer also say why."""
        return dict(
            sorted(
                Counter(
                    f"no answer ({s.failure})" if s.status == NO_ANSWER else str(s.status)
                    for s in self.sent
                    if not (s.status == 202 and s.job_id)
                ).items()
            )
        )
