"""The Celery task that runs a job."""

from __future__ import annotations

import logging
import os
import socket

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_init, worker_process_shutdown, worker_ready
from celery.worker.request import Request
from pymongo.errors import ConnectionFailure, PyMongoError

from services.core import queues
from services.core.celery_app import app
from services.core.config import settings
from services.core.jobs import callbacks, lifecycle, registry
from services.core.jobs.callbacks import DELIVER_CALLBACK
from services.core.jobs.publisher import RUN_JOB
from services.core.runtime import process_runtime
from services.worker.handback import hand_back

log = logging.getLogger(__name__)


@worker_ready.connect
def _declare_topology(sender: object = None, **_kwargs: object) -> None:
    # The dead-letter queue must exist before the first job is dead-lettered into it.
    with app.connection_for_write() as conn:
        queues.declare_all(conn.default_channel)


@worker_init.connect
def _load_job_types(**_kwargs: object) -> None:
    # In the worker's main process, before the pool forks: every pool process knows them.
    registry.load(settings().job_modules)


@worker_process_shutdown.connect
def _flush_tally(**_kwargs: object) -> None:
    runtime = process_runtime()
    if runtime.made("attempts"):
        runtime.attempts.flush_tally()


def worker_name(pid: int | None = None) -> str:
    """What a job's `worker` field says of the process running it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


class RunJobRequest(Request):  # type: ignore[misc]
    """A run_job message in the worker's main process, which outlives a killed pool process."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft or self.worker_pid is None:
            return
        # The pool process is being killed mid-attempt and can record nothing: record the
        # attempt as failed here, rather than leave the job `running` until the stale sweep.
        job_id = self.args[0]
        try:
            runtime = process_runtime()
            outcome = lifecycle.abandon(
                job_id, runtime.jobs, runtime.settings, worker_name(self.worker_pid)
            )
        except PyMongoError as exc:
            log.warning("job %s past its hard time limit left to the sweep: %s", job_id, exc)
            return
        log.warning("job %s stopped at its hard time limit: %s", job_id, outcome.value)


@app.task(name=DELIVER_CALLBACK)
def deliver_callback(job_id: str) -> bool:
    runtime = process_runtime()
    try:
        return callbacks.deliver(runtime.jobs, job_id, runtime.settings)
    except ConnectionFailure as exc:
        raise hand_back(f"callback of job {job_id}", exc) from exc


@app.task(name=RUN_JOB, bind=True, Request=RunJobRequest)
def run_job(self: Task, job_id: str) -> str:
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    try:
        runtime = process_runtime()
        outcome = lifecycle.run(
            job_id, runtime.attempts, runtime.settings, worker_name(), redelivered, runtime.gate
        )
    except ConnectionFailure as exc:
        raise hand_back(f"job {job_id}", exc) from exc
    if outcome is lifecycle.Outcome.FAILED:
        # Rejected without requeue, the message goes to the dead-letter queue.
        raise Reject(f"job {job_id} failed for good", requeue=False)
    return outcome.value
