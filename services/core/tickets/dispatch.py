"""Putting assignment work on the `tickets` queue, with the same confirmed publish as jobs."""

from __future__ import annotations

import logging

from kombu.connection import ConnectionPool

from services.core import queues
from services.core.broker import BROKER_ERRORS, CONFIRM_TIMEOUT
from services.core.celery_app import app
from services.core.errors import BrokerUnavailable
from services.core.process import per_process

ASSIGN_TICKET = "switchboard.assign_ticket"
AGENT_PULL = "switchboard.agent_pull"
# Freed capacity is put to use before new tickets are matched: it serves those already waiting.
PULL_PRIORITY = queues.MAX_PRIORITY
log = logging.getLogger(__name__)


def _confirming_pool() -> ConnectionPool:
    # The app's own connections do not wait for confirms (events and beat's ticks need none);
    # an accepted ticket's assignment does.
    connection = app.connection_for_write(transport_options={"confirm_publish": True})
    return connection.Pool(limit=app.conf.broker_pool_limit)


confirming_connections = per_process(_confirming_pool)


def _send(task: str, arg: str, priority: int) -> None:
    try:
        with confirming_connections().acquire(block=True, timeout=CONFIRM_TIMEOUT) as connection:
            app.send_task(
                task, args=[arg], queue=queues.TICKETS, priority=priority, connection=connection
            )
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(str(exc)) from exc


def publish_assign(ticket_id: str, priority: int) -> None:
    _send(ASSIGN_TICKET, ticket_id, priority)


def publish_pull(agent_id: str) -> None:
    _send(AGENT_PULL, agent_id, PULL_PRIORITY)


def nudge_assign(ticket_id: str, priority: int) -> None:
    """Ask for an assignment the sweep would otherwise make (a ticket back in the queue)."""
    try:
        publish_assign(ticket_id, priority)
    except BrokerUnavailable as exc:
        log.warning("assignment of ticket %s left to the sweep: %s", ticket_id, exc)


def nudge_pull(agent_id: str) -> None:
    """Ask for a pull when it helps but is not owed to the client: the sweep does it otherwise."""
    try:
        publish_pull(agent_id)
    except BrokerUnavailable as exc:
        log.warning("pull for agent %s left to the sweep: %s", agent_id, exc)
