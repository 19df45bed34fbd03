"""Periodic maintenance runs single-flight, and each run's duration is recorded.

Beat sends a tick every interval; the tick runs only if it takes the task's lease, a
conditional update on one small document per task (`maintenance` collection). A tick that
finds the lease held is dropped rather than queued behind it, so an overrunning task never
piles up work, and two maintenance workers never run the same task at once. A worker that dies
mid-run holds the lease until it expires (a few intervals), then the next tick takes it over.

The same document records how long runs take (`runs`, `total_seconds`, `max_seconds`,
`last_seconds`), so an operator or `make bench` can see maintenance's share of its interval.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.core import clock

T = TypeVar("T")
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# A lease outlives a normal run by far, yet a dead holder blocks the task only briefly.
MIN_LEASE_SECONDS = 5.0
LEASE_INTERVALS = 3


def lease_seconds(interval: float) -> float:
    return max(MIN_LEASE_SECONDS, LEASE_INTERVALS * interval)


class Maintenance:
    def __init__(self, db: Database) -> None:
        self.tasks: Collection = db["maintenance"]

    def _ensure(self, name: str, interval: float) -> None:
        # Another process may make it first: either way it now exists.
        with suppress(DuplicateKeyError):
            self.tasks.update_one(
                {"_id": name},
                {
                    "$setOnInsert": {
                        "lease_until": NEVER,
                        "holder": None,
                        "runs": 0,
                        "total_seconds": 0.0,
                        "max_seconds": 0.0,
                        "last_seconds": None,
                        "last_started_at": None,
                    },
                },
                upsert=True,
            )

    def acquire(self, name: str, interval: float) -> str | None:
        """Take the task's lease; the holder token, or None when a run is already going on."""
        holder = uuid.uuid4().hex
        t = clock.now()
        until = t + timedelta(seconds=lease_seconds(interval))
        query = {"_id": name, "lease_until": {"$lt": t}}
        update = {
            "$set": {
                "lease_until": until,
                "holder": holder,
                "last_started_at": t,
                "interval": interval,
            }
        }
        if self.tasks.find_one_and_update(query, update, {"_id": 1}) is None:
            if self.tasks.find_one({"_id": name}, {"_id": 1}) is not None:
                return None
            self._ensure(name, interval)
            if self.tasks.find_one_and_update(query, update, {"_id": 1}) is None:
                return None
        return holder

    def release(self, name: str, holder: str, seconds: float) -> None:
        """Give the lease back and count the run."""
        self.tasks.update_one(
            {"_id": name, "holder": holder},
            {
                "$set": {"lease_until": NEVER, "holder": None, "last_seconds": seconds},
                "$inc": {"runs": 1, "total_seconds": seconds},
                "$max": {"max_seconds": seconds},
            },
        )

    def run(self, name: str, interval: float, task: Callable[[], T]) -> T | None:
        """`task()` under the lease; None when another run holds it."""
        holder = self.acquire(name, interval)
        if holder is None:
            return None
        started = time.monotonic()
        try:
            return task()
        finally:
            self.release(name, holder, time.monotonic() - started)

    def report(self) -> list[dict[str, Any]]:
        """Every task's run statistics."""
        return list(self.tasks.find({}, {"lease_until": 0, "holder": 0}))
