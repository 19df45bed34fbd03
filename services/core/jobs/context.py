"""What a handler sees of the attempt it runs in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.core.errors import JobCancelled, PermanentError
from services.core.fetch import FetchPolicy

# What a handler raises, or meets, to end its run: from the one error hierarchy.
__all__ = ["JobCancelled", "JobContext", "PermanentError"]


@dataclass
class JobContext:
    job_id: str
    attempt: int
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    report_progress: Callable[[float], None] = lambda _value: None
    # time.monotonic() at which the attempt's soft time limit ends it; None for no limit.
    deadline: float | None = None
    # What the job's outbound fetches may reach (FETCH_* settings): public addresses only.
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    # Reads the results of the job's parents (`depends_on`), by id; called once, when asked.
    load_parent_results: Callable[[], dict[str, Any]] = dict
    _parent_results: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested.is_set():
            raise JobCancelled(self.job_id)

    def sleep(self, seconds: float) -> None:
        """Wait, but wake up and stop as soon as the job is cancelled."""
        if self.cancel_requested.wait(seconds):
            raise JobCancelled(self.job_id)

    def time_left(self) -> float | None:
        """Seconds until the soft time limit, so a handler can bound its own waits by it."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def progress(self, value: float) -> None:
        self.report_progress(value)

    def parent_results(self) -> dict[str, Any]:
        """The result of each parent job this one depends on, by id, in the order named (None
        for a parent whose record retention has deleted); read from the database on first use."""
        if self._parent_results is None:
            self._parent_results = self.load_parent_results()
        return self._parent_results
