"""The Celery application shared by web (publishing), workers and beat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from services.core import logs, queues
from services.core.config import Settings, settings


def maintenance_intervals(s: Settings) -> dict[str, float]:
    """Each periodic task of the `maintenance` queue, and how often beat sends it."""
    return {
        "dispatch_due": s.dispatch_interval,
        "sweep_stale": s.sweep_interval,
        "sweep_dependencies": s.sweep_interval,
        "sweep_tickets": s.ticket_sweep_interval,
        "relay_callbacks": s.callback_interval,
        "fire_schedules": s.schedule_interval,
    }


def configuration(s: Settings) -> dict[str, Any]:
    """The Celery configuration these settings make."""
    return dict(
        broker_url=s.broker_url,
        task_queues=queues.all_queues,
        task_default_queue=queues.JOBS,
        task_default_exchange=queues.work_exchange.name,
        task_default_routing_key=queues.JOBS,
        task_create_missing_queues=False,
        task_default_priority=0,
        # Only what a 202 promises waits for the broker's confirm, on connections of its own
        # (jobs/publisher.py, tickets/dispatch.py). Workers' events and beat's ticks do not:
        # an event flush that waited for a confirm held up the worker's loop once per job.
        broker_transport_options={"confirm_publish": False},
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        # At-least-once delivery: a message is acked only after its outcome is recorded, and
        # goes back to the queue when the worker process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message in hand per process, so the broker's priority order decides what runs next.
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        # Flower follows tasks from the workers' events (WORKER_TASK_EVENTS); a `task-sent`
        # event per publish would double the broker's messages for a state Flower can skip.
        worker_send_task_events=s.worker_task_events,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        task_routes={
            name: {"queue": queues.TICKETS}
            for name in ("switchboard.assign_ticket", "switchboard.agent_pull")
        },
        # Maintenance has a queue and a worker of its own, so it never takes capacity from jobs
        # or tickets; a tick not started within its interval is dropped, not run late.
        beat_schedule={
            name.replace("_", "-"): {
                "task": f"switchboard.{name}",
                "schedule": timedelta(seconds=interval),
                "options": {"queue": queues.MAINTENANCE, "expires": interval},
            }
            for name, interval in maintenance_intervals(s).items()
        },
    )


@setup_logging.connect
def _json_logs(**_kwargs: object) -> None:
    # Connected, this replaces Celery's own logging setup in workers and beat.
    logs.configure(settings().log_level)


app = Celery(
    "switchboard",
    include=[
        "services.worker.tasks",
        "services.worker.ticket_tasks",
        "services.worker.maintenance_tasks",
    ],
)
# Read from the environment when the configuration is first used, not when this is imported.
app.add_defaults(lambda: configuration(settings()))
