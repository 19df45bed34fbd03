"""Newest-first pages of a history collection, at a cost set by the page, not by the history.

Ids are ObjectId hex strings, so an `_id` range is a time range. A query on a filter that
matches most of history (a finished status, a type) is served by no server in a bounded way:
secantusd-rs fetches and sorts every match before it applies the limit. Instead the page walks
back from the cursor through `_id` windows, reading only the fields the filter needs, and
widens each window by what the last one held, until the page is full, `SCAN_BUDGET` ids have been
read, or the walk passes `FLOOR`. A page can therefore come back short with a `next` cursor:
clients follow `next` until it is null.

Every page, this walk's or an index's, also stops before its documents pass a byte budget
(`bounded`), so `limit=500` of 1 MiB jobs is several answers, not one of 500 MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import bson
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING
from pymongo.collection import Collection

# Any stored document: a job, a ticket.
D = TypeVar("D", bound=Mapping[str, Any])

# Ids read at most per page, whatever the history.
SCAN_BUDGET = 5000
FIRST_WINDOW = timedelta(minutes=1)
# A window grows at most this much over the last, however empty the last was.
MAX_GROWTH = 8
# Nothing Switchboard recorded is older than this.
FLOOR = datetime(2020, 1, 1, tzinfo=UTC)


def id_at(t: datetime) -> str:
    """The smallest id made at `t`."""
    return str(ObjectId.from_datetime(t))


def time_of(cursor: str) -> datetime:
    try:
        return ObjectId(cursor).generation_time
    except InvalidId:  # a cursor that is no id: start from now, `_id < cursor` still applies
        return datetime.now(UTC)


def bounded(docs: Iterable[D], limit: int, max_bytes: int | None) -> tuple[list[D], str | None]:
    """The first `limit` of `docs` (in page order, one more asked for to learn whether there are
    more), cut before their BSON passes `max_bytes` but never empty; the page and its `next`."""
    taken: list[D] = []
    size = 0
    for doc in docs:
        if max_bytes is not None:
            size += len(bson.encode(doc))
        if len(taken) == limit or (taken and max_bytes is not None and size > max_bytes):
            return taken, taken[-1]["_id"]
        taken.append(doc)
    return taken, None


def page(
    collection: Collection[D],
    equal: Mapping[str, str],
    limit: int,
    cursor: str | None,
    now: datetime,
    max_bytes: int | None = None,
) -> tuple[list[D], str | None]:
    """Up to `limit` documents whose fields equal `equal`, newest first, below `cursor`, and
    no more than `max_bytes` of them."""
    upper = cursor or id_at(now + timedelta(seconds=1))
    upper_time = time_of(upper) if cursor else now + timedelta(seconds=1)
    window = FIRST_WINDOW
    fields = dict.fromkeys(equal, 1)
    found: list[str] = []
    scanned = 0
    while upper_time > FLOOR:
        lower_time = max(upper_time - window, FLOOR)
        lower = id_at(lower_time)
        ids = collection.find({"_id": {"$gte": lower, "$lt": upper}}, fields)
        rows = sorted(ids, key=lambda d: d["_id"], reverse=True)
        scanned += len(rows)
        for row in rows:
            if all(row.get(k) == v for k, v in equal.items()):
                found.append(row["_id"])
                if len(found) > limit:
                    return _fetch(collection, found[:limit], max_bytes, found[limit - 1])
        upper, upper_time = lower, lower_time
        if scanned >= SCAN_BUDGET:
            return _fetch(collection, found, max_bytes, upper)
        window = _next_window(window, len(rows), SCAN_BUDGET - scanned)
    return _fetch(collection, found, max_bytes, None)


def _next_window(window: timedelta, held: int, budget_left: int) -> timedelta:
    """As wide as the last window's density says the budget left can read, within MAX_GROWTH."""
    grown = window * MAX_GROWTH
    if held == 0:
        return grown
    return max(FIRST_WINDOW, min(grown, window * (budget_left / held)))


def _fetch(
    collection: Collection[D], ids: list[str], max_bytes: int | None, next_cursor: str | None
) -> tuple[list[D], str | None]:
    """The documents of `ids` (newest first), read only as far as the byte budget allows."""
    if not ids:
        return [], next_cursor
    docs = collection.find({"_id": {"$in": ids}}, sort=[("_id", DESCENDING)])
    taken, cut = bounded(docs, len(ids), max_bytes)
    return taken, cut or next_cursor
