"""Concurrency and rate limits per job type and per `concurrency_key`, held in MongoDB.

A job's limits (`limits_of`): its type's TYPE_CONCURRENCY / TYPE_RATE, and, when it was
submitted with a `concurrency_key`, KEY_CONCURRENCY / KEY_RATE for that key. A worker checks them
right after it claims the job (`Gate.admit`); a job over a limit is not run but put back
`throttled` with a `not_before` time, and the relay publishes it again when that time comes. So a
waiting job holds no worker process, and other types and keys are never held up behind it.

Concurrency: a limit of N is N slot documents in `job_slots`, `{_id: "<limit>#<n>", limit, n,
run_id, job_id, until}`. Taking one is one conditional update of a slot whose lease is over
(`until < now`: free slots have `until` in 1970); the holder's heartbeat pushes `until` on, and
the attempt frees its slots when it ends, whatever the outcome. A worker that dies holding a slot
stops renewing it: the slot is free again once its lease (STALE_AFTER) runs out, with no sweep
needed; the stale sweep also frees the slots of the attempts it gives up on, and a worker that
kills a process at the hard time limit frees that attempt's slots. So a dead worker costs a
limit one slot for at most STALE_AFTER.

Rate: a fixed one-second window per limit in `job_rates`, `{_id: limit, window, count}`, moved by
conditional updates only: `count < R` in this second's window, or a window that has passed is
reset. A job refused by the rate waits until the next second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.core.config import Settings
from services.core.documents import Doc
from services.core.jobs.document import JobDoc

FREE = datetime(1970, 1, 1, tzinfo=UTC)
SLOTS = "job_slots"
RATES = "job_rates"


@dataclass(frozen=True)
class Limit:
    """The limits on one job type (`scope` "type") or one concurrency key (`scope` "key")."""

    scope: str
    name: str
    concurrency: int | None
    rate: int | None

    @property
    def id(self) -> str:
        return f"{self.scope}:{self.name}"


def limits_of(job_type: str, key: str | None, s: Settings) -> list[Limit]:
    """The limits a job of `job_type` with concurrency key `key` is subject to."""
    found = [
        Limit(
            "type",
            job_type,
            dict(s.type_concurrency).get(job_type),
            dict(s.type_rate).get(job_type),
        )
    ]
    if key is not None:
        found.append(Limit("key", key, s.key_concurrency, s.key_rate))
    return [limit for limit in found if limit.concurrency or limit.rate]


def ensure_indexes(db: Database) -> None:
    # Free and expired slots of a limit are `until < now` in this index; release and renewal
    # find a run's slots by `run_id`. Both hold only slots, bounded by the configured limits.
    db[SLOTS].create_index([("limit", ASCENDING), ("until", ASCENDING)])
    db[SLOTS].create_index([("run_id", ASCENDING)])


@dataclass(frozen=True)
class Admission:
    """The answer at claim time: run now (`not_before` None), or wait until `not_before`.
    `held`: whether the attempt holds slots to renew and free."""

    not_before: datetime | None
    held: bool = False


class Gate:
    def __init__(self, db: Database, s: Settings) -> None:
        self.slots: Collection = db[SLOTS]
        self.rates: Collection = db[RATES]
        self.settings = s

    def admit(self, doc: JobDoc, run_id: str, now: datetime) -> Admission:
        """Take a slot of each concurrency limit and a start of each rate limit, or none."""
        limits = limits_of(doc["type"], doc.get("concurrency_key"), self.settings)
        if not limits:
            return Admission(None)
        lease = now + timedelta(seconds=self.settings.stale_after)
        held = False
        for limit in limits:
            if limit.concurrency is None:
                continue
            if not self.take_slot(limit.id, limit.concurrency, run_id, doc["_id"], now, lease):
                self.release(run_id)
                return Admission(now + timedelta(seconds=self.settings.throttle_delay))
            held = True
        for limit in limits:
            if limit.rate is None:
                continue
            wait_until = self.take_start(limit.id, limit.rate, now)
            if wait_until is not None:
                self.release(run_id)
                return Admission(wait_until)
        return Admission(None, held)

    def take_slot(
        self, limit: str, n: int, run_id: str, job_id: str, now: datetime, lease: datetime
    ) -> bool:
        """Hold one of the `n` slots of `limit` until `lease`; False when all are held."""
        query = {"limit": limit, "until": {"$lt": now}, "n": {"$lt": n}}
        hold = {"$set": {"run_id": run_id, "job_id": job_id, "until": lease}}
        if self.slots.find_one_and_update(query, hold, {"_id": 1}) is not None:
            return True
        # The first use of a limit, or a limit raised since: make the missing slots.
        if self.slots.count_documents({"limit": limit, "n": {"$lt": n}}) >= n:
            return False
        for i in range(n):
            self.slots.update_one(
                {"_id": f"{limit}#{i}"},
                {"$setOnInsert": {"limit": limit, "n": i, "until": FREE, "run_id": None}},
                upsert=True,
            )
        return self.slots.find_one_and_update(query, hold, {"_id": 1}) is not None

    def take_start(self, limit: str, rate: int, now: datetime) -> datetime | None:
        """Count one start against `rate` per second; None when allowed, else when to try."""
        window = int(now.timestamp())
        counted = self.rates.update_one(
            {"_id": limit, "window": window, "count": {"$lt": rate}}, {"$inc": {"count": 1}}
        )
        if counted.matched_count:
            return None
        fresh = self.rates.update_one(
            {"_id": limit, "window": {"$lt": window}}, {"$set": {"window": window, "count": 1}}
        )
        if fresh.matched_count:
            return None
        if self.rates.find_one({"_id": limit}, {"_id": 1}) is None:
            try:
                self.rates.insert_one({"_id": limit, "window": window, "count": 1})
                return None
            except DuplicateKeyError:
                return self.take_start(limit, rate, now)
        return datetime.fromtimestamp(window + 1, UTC)

    def renew(self, run_id: str, now: datetime) -> None:
        """Keep the attempt's slots held: its heartbeat."""
        until = now + timedelta(seconds=self.settings.stale_after)
        self.slots.update_many({"run_id": run_id}, {"$set": {"until": until}})

    def release(self, run_id: str) -> None:
        """Free every slot the attempt `run_id` holds."""
        self.slots.update_many(
            {"run_id": run_id}, {"$set": {"run_id": None, "job_id": None, "until": FREE}}
        )

    def running(self, limit: str, now: datetime) -> int:
        """How many slots of `limit` are held now."""
        return self.slots.count_documents({"limit": limit, "until": {"$gte": now}})

    def report(self, job_type: str, key: str | None, now: datetime) -> list[Doc]:
        """The limits a job would meet, and whether it would wait on one now (`dry-run`)."""
        rows = []
        for limit in limits_of(job_type, key, self.settings):
            running = self.running(limit.id, now) if limit.concurrency else 0
            rows.append(
                {
                    "scope": limit.scope,
                    "name": limit.name,
                    "concurrency": limit.concurrency,
                    "rate_per_second": limit.rate,
                    "running": running,
                    "at_limit": limit.concurrency is not None and running >= limit.concurrency,
                }
            )
        return rows
