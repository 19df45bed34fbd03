"""Reaching a stack's MongoDB and RabbitMQ directly: counts, purges and resets between runs."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from kombu import Connection
from pymongo import MongoClient
from pymongo.database import Database

from services.core import queues
from services.localstack.topology import StackConfig


def database(config: StackConfig) -> Database:
    return MongoClient(config.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000)[
        config.mongo_db
    ]


def queue_info(config: StackConfig, name: str) -> dict[str, Any]:
    """The management API's view of a queue (its counters lag by a few seconds)."""
    url = f"{config.management_url}queues/%2F/{urllib.parse.quote(name, safe='')}"
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(url.replace(f"{parts.username}:{parts.password}@", ""))
    password_mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    password_mgr.add_password(None, request.full_url, parts.username, parts.password)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(password_mgr))
    with opener.open(request, timeout=5) as response:
        return dict(json.load(response))


def ready_messages(config: StackConfig, name: str) -> int:
    """Messages waiting in a queue, exact and current (a passive declare, not the stats)."""
    with Connection(config.broker_url) as conn:
        _, count, _ = conn.default_channel.queue_declare(name, passive=True)
        return int(count)


def purge_jobs_queue(config: StackConfig) -> None:
    with Connection(config.broker_url) as conn:
        for queue in (queues.work_queues[0], queues.dead_letter_queue):
            queue.bind(conn.default_channel).purge()


def reset_jobs(config: StackConfig, settle: float = 1.0) -> None:
    """An empty queue and an empty `jobs` collection (indexes kept), so runs start alike."""
    purge_jobs_queue(config)
    time.sleep(settle)  # let the job each worker holds finish
    db = database(config)
    db["jobs"].delete_many({})
    db["bench_executions"].delete_many({})


def count_status(config: StackConfig, status: str) -> int:
    return int(database(config)["jobs"].count_documents({"status": status}))
