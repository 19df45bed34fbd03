"""Putting assignment work on the `tickets` queue, with the same confirmed publish as jobs."""

from __future__ import annotations

import logging

from services.core import queues
from services.core.celery_app import app
from services.core.jobs.publisher import BROKER_ERRORS, BrokerUnavailable

ASSIGN_TICKET = "switchboard.assign_ticket"
AGENT_PULL = "switchboard.agent_pull"
# Freed capacity is put to use before new tickets are matched: it serves those already waiting.
PULL_PRIORITY = queues.MAX_PRIORITY
log = logging.getLogger(__name__)


def _send(task: str, arg: str, priority: int) -> None:
    try:
        app.send_task(task, args=[arg], queue=queues.TICKETS, priority=priority)
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(str(exc)) from exc


def publish_assign(ticket_id: str, priority: int) -> None:
    _send(ASSIGN_TICKET, ticket_id, priority)


def publish_pull(agent_id: str) -> None:
    _send(AGENT_PULL, agent_id, PULL_PRIORITY)


def nudge_pull(agent_id: str) -> None:
    """Ask for a pull when it helps but is not owed to the client: the sweep does it otherwise."""
    try:
        publish_pull(agent_id)
    except BrokerUnavailable as exc:
        log.warning("pull for agent %s left to the sweep: %s", agent_id, exc)
