"""Putting recorded jobs on the broker: a confirmed publish, then the move to `queued`.

The job is recorded before it is published (outbox), so a crash in between leaves a `pending`
job that `relay` publishes later; a duplicate message is harmless because starting an attempt is
a conditional update.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pymongo.errors import ConnectionFailure

from services.core.config import Settings
from services.core.errors import BrokerUnavailable
from services.core.jobs import limits
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import Message, Publisher
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore

log = logging.getLogger(__name__)
_PENDING = JobStatus.PENDING.value


def _messages(docs: Iterable[JobDoc], s: Settings) -> list[Message]:
    return [(doc["_id"], doc["priority"], limits.of(doc, s)) for doc in docs]


def _publish(
    publisher: Publisher, docs: list[JobDoc], s: Settings
) -> tuple[frozenset[str], BrokerUnavailable | None]:
    """Publish the jobs; the ids the broker confirmed, and why the others were not."""
    try:
        publisher.publish(_messages(docs, s))
    except BrokerUnavailable as exc:
        return exc.confirmed, exc
    return frozenset(doc["_id"] for doc in docs), None


def redispatch(store: JobStore, job_id: str, publisher: Publisher, s: Settings) -> JobDoc | None:
    """Send a failed or cancelled job round again; None when it is neither.

    Raises BrokerUnavailable with the job put back as it was, so a 503 leaves nothing behind.
    """
    before = store.reopen(job_id)
    if before is None:
        return None
    try:
        publisher.publish(_messages([before], s))
    except BrokerUnavailable:
        store.undo_reopen(before)
        raise
    return store.mark_queued(job_id, was=_PENDING) or store.get(job_id)


@dataclass(frozen=True)
class Dispatched:
    """What became of freshly recorded jobs handed to the broker together."""

    confirmed: frozenset[str]
    # When the confirmed jobs were marked queued; None if the database went away first.
    queued_at: datetime | None
    # Why the others were not confirmed (they have been discarded); None when all were.
    failure: BrokerUnavailable | None


def dispatch_new(
    store: JobStore, docs: list[JobDoc], publisher: Publisher, s: Settings
) -> Dispatched:
    """Publish freshly recorded jobs in one call; on failure forget those not on the broker.

    Jobs on the broker but not marked queued, because the database went away, stay `pending`:
    workers start those like `queued`, so they are accepted all the same rather than run
    behind a 503.
    """
    confirmed, failure = _publish(publisher, docs, s)
    if failure is not None:
        try:
            store.discard_unpublished([d["_id"] for d in docs if d["_id"] not in confirmed])
        except ConnectionFailure as lost:
            # Left `pending`, the relay publishes them later: accepted late rather than lost.
            log.warning("unconfirmed jobs not discarded, database unavailable: %s", lost)
    try:
        queued_at: datetime | None = store.mark_many_queued(list(confirmed))
    except ConnectionFailure as exc:
        log.warning("published jobs left pending, database unavailable: %s", exc)
        queued_at = None
    return Dispatched(confirmed, queued_at, failure)


def _latest_not_before(docs: list[JobDoc], status: str) -> datetime | None:
    """For throttled jobs, the latest `not_before` the relay read (see `mark_many_queued`)."""
    if status != JobStatus.THROTTLED.value:
        return None
    return max(d["not_before"] for d in docs if d["status"] == status)


def relay(store: JobStore, due: Iterable[JobDoc], publisher: Publisher, s: Settings) -> int:
    """Publish jobs left pending and retries whose backoff is over; how many went out."""
    docs = list(due)
    confirmed, failure = _publish(publisher, docs, s)
    if failure is not None:
        log.warning("relay stopped, broker unavailable: %s", failure)
    for status in {doc["status"] for doc in docs}:
        ids = [d["_id"] for d in docs if d["status"] == status and d["_id"] in confirmed]
        store.mark_many_queued(ids, was=status, not_before_by=_latest_not_before(docs, status))
    return len(confirmed)
