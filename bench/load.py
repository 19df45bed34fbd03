"""A bounded client load for the drills: submits jobs at a steady pace and remembers every answer.

Each job carries a unique token in its payload, so the audit can find every job the service
recorded for a request, including requests whose answer was an error.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

# A request that got no HTTP answer at all (refused, reset, timed out) is counted under 0.
NO_ANSWER = 0


@dataclass
class Sent:
    token: str
    at: float  # wall clock, comparable with the service's timestamps
    status: int
    job_id: str | None


@dataclass
class Load:
    """Submit `rate` jobs/s from `threads` threads until stopped or `seconds` have passed."""

    base_url: str
    job_type: str
    payload: dict[str, Any]
    token_field: str
    rate: float = 20.0
    seconds: float = 20.0
    threads: int = 4
    sent: list[Sent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.seconds
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"load-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join()

    def wait(self) -> None:
        for thread in self._workers:
            thread.join()

    def _loop(self) -> None:
        pause = self.threads / self.rate
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            began = time.monotonic()
            self._submit_one()
            self._stop.wait(max(0.0, pause - (time.monotonic() - began)))

    def _submit_one(self) -> None:
        token = uuid.uuid4().hex
        body = {"type": self.job_type, "payload": {**self.payload, self.token_field: token}}
        request = urllib.request.Request(
            self.base_url + "/jobs",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        at = time.time()
        status, job_id = NO_ANSWER, None
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, job_id = response.status, json.load(response)["id"]
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, ValueError):
            status = NO_ANSWER
        with self._lock:
            self.sent.append(Sent(token, at, status, job_id))

    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 202 and s.job_id]
