"""Can this process reach MongoDB and RabbitMQ, and what does the broker hold."""

from __future__ import annotations

from pymongo.database import Database

from services.core import queues
from services.core.broker import BROKER_ERRORS
from services.core.celery_app import app
from services.core.errors import BrokerUnavailable

BROKER_CHECK_TIMEOUT = 2.0


def mongo_problem(database: Database) -> str | None:
    try:
        database.client.admin.command("ping")
    except Exception as exc:  # any failure means "not healthy", reported, never raised
        return f"{type(exc).__name__}: {exc}"
    return None


def broker_problem() -> str | None:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_CHECK_TIMEOUT)
    except BROKER_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def queue_depths() -> dict[str, dict[str, int]]:
    """Messages waiting and consumers attached, per queue; BrokerUnavailable when it is down."""
    depths: dict[str, dict[str, int]] = {}
    try:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for queue in queues.all_queues:
                # Declaring with the same arguments is a no-op that also answers the counts.
                declared = queue.bind(channel).queue_declare()
                depths[queue.name] = {
                    "messages": declared.message_count,
                    "consumers": declared.consumer_count,
                }
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(str(exc)) from exc
    return depths
