"""The baseline for end to end: a bare Celery app with a no-op task and no state tracking.

Same broker (its own queue on the stack's RabbitMQ), same worker count and concurrency, and the
same delivery settings as Switchboard's workers (acks late, prefetch 1, confirmed publishes),
so the difference measured is what Switchboard adds: MongoDB state, heartbeats, the HTTP API.
Started as `celery -A bench.bare_celery worker`, with BENCH_BROKER_URL naming the broker.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

QUEUE = "bench.bare"
app = Celery("bench_bare", broker=os.environ.get("BENCH_BROKER_URL", "amqp://"))
app.conf.update(
    task_queues=(Queue(QUEUE, durable=True, queue_arguments={"x-max-priority": 9}),),
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_transport_options={"confirm_publish": True},
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop() -> None:
    """Nothing at all: the floor of what a Celery round trip costs."""
