"""Handing a message back to RabbitMQ while MongoDB is away, so another try comes later."""

from __future__ import annotations

import logging
import time

from celery.exceptions import Reject
from pymongo.errors import ConnectionFailure

log = logging.getLogger(__name__)
# Pause before handing a message back, so a worker does not spin on it while the database is down.
PAUSE = 1.0


def hand_back(what: str, exc: ConnectionFailure) -> Reject:
    """The Reject to raise for `what` (e.g. "job <id>"): requeued, after a pause."""
    log.warning("%s handed back, MongoDB unavailable: %s", what, exc)
    time.sleep(PAUSE)
    return Reject(str(exc), requeue=True)
