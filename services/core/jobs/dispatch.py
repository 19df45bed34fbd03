"""Putting jobs on the broker: a confirmed publish, then the move to `queued`.

The job is recorded before it is published (outbox), so a crash in between leaves a `pending`
job that `relay` publishes later; a duplicate message is harmless because starting an attempt is
a conditional update.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from kombu.exceptions import KombuError
from pymongo.errors import ConnectionFailure

from services.core import queues
from services.core.celery_app import app
from services.core.jobs.store import Doc, JobStore

RUN_JOB = "switchboard.run_job"
log = logging.getLogger(__name__)

# What a broker that is down, unreachable or refusing raises through Celery and kombu.
BROKER_ERRORS: tuple[type[Exception], ...] = (KombuError, OSError, ConnectionError)


class BrokerUnavailable(Exception):
    """The broker did not confirm a publish."""


def publish(job_id: str, priority: int) -> None:
    try:
        app.send_task(RUN_JOB, args=[job_id], queue=queues.JOBS, priority=priority)
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(str(exc)) from exc


def dispatch(store: JobStore, doc: Doc) -> Doc | None:
    """Publish one recorded job and mark it queued; the job as it now stands."""
    publish(doc["_id"], doc["priority"])
    return store.mark_queued(doc["_id"], was=doc["status"])


def redispatch(store: JobStore, job_id: str) -> Doc | None:
    """Send a failed or cancelled job round again; None when it is neither.

    Raises BrokerUnavailable with the job put back as it was, so a 503 leaves nothing behind.
    """
    before = store.reopen(job_id)
    if before is None:
        return None
    try:
        return dispatch(store, {**before, "status": "pending"}) or store.get(job_id)
    except BrokerUnavailable:
        store.undo_reopen(before)
        raise


def dispatch_new(store: JobStore, docs: list[Doc]) -> datetime | None:
    """Publish freshly recorded jobs; on failure forget those not yet on the broker.

    Returns the time they were marked queued, or None when every job is on the broker but the
    database went away before they could be marked: they stay `pending`, which workers start
    like `queued`, so the jobs are accepted all the same rather than run behind a 503.
    """
    published: list[str] = []
    try:
        for doc in docs:
            publish(doc["_id"], doc["priority"])
            published.append(doc["_id"])
    except BrokerUnavailable:
        store.discard_unpublished([d["_id"] for d in docs[len(published) :]])
        store.mark_many_queued(published)
        raise
    try:
        return store.mark_many_queued(published)
    except ConnectionFailure as exc:
        log.warning("published jobs left pending, database unavailable: %s", exc)
        return None


def relay(store: JobStore, due: Iterable[Doc]) -> int:
    """Publish jobs left pending and retries whose backoff is over; how many went out."""
    sent = 0
    for doc in due:
        try:
            dispatch(store, doc)
        except BrokerUnavailable as exc:
            log.warning("relay stopped, broker unavailable: %s", exc)
            break
        sent += 1
    return sent
