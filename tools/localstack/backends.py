"""Reaching a stack's MongoDB and RabbitMQ directly: queue depths, purges, resets between runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from kombu import Connection
from pymongo import MongoClient
from pymongo.database import Database

from services.core import queues
from tools.localstack.topology import StackConfig


def database(config: StackConfig, timeout_ms: int | None = None) -> Database:
    """The stack's database; `timeout_ms` bounds every operation (none by default)."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        config.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000, timeoutMS=timeout_ms
    )
    return client[config.mongo_db]


def ready_messages(config: StackConfig, name: str) -> int:
    """Messages waiting in a queue, exact and current (a passive declare, not the stats)."""
    with Connection(config.broker_url) as conn:
        _, count, _ = conn.default_channel.queue_declare(name, passive=True)
        return int(count)


def purge_jobs_queue(config: StackConfig) -> None:
    with Connection(config.broker_url) as conn:
        for queue in (queues.work_queues[0], queues.dead_letter_queue):
            queue.bind(conn.default_channel).purge()


def marker() -> str:
    """An `_id` at or below that of every job made from now on: ids begin with their second."""
    return str(ObjectId.from_datetime(datetime.now(UTC)))


def reset_jobs(config: StackConfig, since: str, settle: float = 1.0) -> None:
    """Empty the jobs queue and delete the jobs made since `since` (a `marker()`).

    Only those: the history seeded before them stays, so the next run meets the same database.
    """
    purge_jobs_queue(config)
    time.sleep(settle)  # let the job each worker holds finish
    db = database(config)
    db["jobs"].delete_many({"_id": {"$gte": since}})
    db["bench_executions"].delete_many({})
