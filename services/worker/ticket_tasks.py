"""The Celery tasks of ticket assignment, all on the `tickets` queue."""

from __future__ import annotations

import logging

from pymongo.errors import ConnectionFailure

from services.core.celery_app import app
from services.core.process import per_process
from services.core.runtime import process_runtime
from services.core.tickets import assignment, dispatch
from services.core.tickets.candidates import QueueSnapshot, Snapshot
from services.worker.handback import hand_back

log = logging.getLogger(__name__)
# Agents and waiting tickets as this process last read them, to pick candidates without a query
# per message; read again once they are older than this (seconds).
SNAPSHOT_AGE = 0.25
SNAPSHOT = Snapshot(max_age=SNAPSHOT_AGE)
_queue = per_process(lambda: QueueSnapshot(SNAPSHOT_AGE, ageing=process_runtime().ageing))


@app.task(name=dispatch.ASSIGN_TICKET)
def assign_ticket(ticket_id: str) -> str:
    try:
        return assignment.assign(
            process_runtime().tickets,
            ticket_id,
            process_runtime().settings.assignment_strategy,
            SNAPSHOT,
        ).value
    except ConnectionFailure as exc:
        raise hand_back(f"ticket {ticket_id}", exc) from exc


@app.task(name=dispatch.AGENT_PULL)
def agent_pull(agent_id: str) -> int:
    try:
        return assignment.pull(process_runtime().tickets, agent_id, _queue())
    except ConnectionFailure as exc:
        raise hand_back(f"pull for agent {agent_id}", exc) from exc
