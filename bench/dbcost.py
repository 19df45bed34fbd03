"""The database's cost per operation as the `jobs` collection grows: the profile behind the numbers.

On a side collection of real job documents, for several sizes: a primary-key read (the one query
FerretDB 1.24 narrows in SQLite), and the conditional updates every job makes — claim
(`find_one_and_update` on _id + status) and finish (`update_one` on _id + run_id + status) —
plus the status scan beat's relay runs every second. On MongoDB all of these use indexes and
stay flat; where they grow with the size, the database is scanning the whole collection.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import backends
from services.core.jobs.store import new_job
from services.localstack.stack import LocalStack

COLLECTION = "bench_dbcost"
TRIES = 15


def _median_ms(op: Callable[[int], object], tries: int = TRIES) -> float:
    times = []
    for i in range(tries):
        start = time.perf_counter()
        op(i)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def one_size(stack: LocalStack, size: int) -> dict[str, Any]:
    coll = backends.database(stack.config)[COLLECTION]
    coll.drop()
    docs = [new_job("noop", {}, 5, 3) for _ in range(size)]
    coll.insert_many(docs)
    ids = [d["_id"] for d in docs]
    last = ids[-TRIES:]  # the rows a scan reaches last
    row = {
        "documents": size,
        "read_by_id_ms": _median_ms(lambda i: coll.find_one({"_id": last[i]})),
        "claim_ms": _median_ms(
            lambda i: coll.find_one_and_update(
                {"_id": last[i], "status": {"$in": ["pending", "queued"]}},
                {"$set": {"status": "running", "run_id": "r"}, "$inc": {"attempts": 1}},
            )
        ),
        "finish_ms": _median_ms(
            lambda i: coll.update_one(
                {"_id": last[i], "run_id": "r", "status": "running"},
                {"$set": {"status": "succeeded"}},
            )
        ),
        "mark_queued_in_ms": _median_ms(
            lambda i: coll.update_many(
                {"_id": {"$in": [last[i]]}, "status": "pending"}, {"$set": {"status": "queued"}}
            )
        ),
        "status_scan_ms": _median_ms(
            lambda i: list(coll.find({"status": "retrying"}).limit(500)), tries=5
        ),
    }
    coll.drop()
    return row


def measure(stack: LocalStack, sizes: tuple[int, ...], log: Any) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        rows.append(one_size(stack, size))
        log(f"db cost at {size} documents: {rows[-1]}")
    return rows
