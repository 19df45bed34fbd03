"""Word from the workers that a job someone waits for has ended, pushed to the web processes.

A request that waits (`?wait=`, `/events`) marks its job `watched`. The worker that records the
job's end learns that in the same round trip (the outcome write's projection) and only then
sends the job's id to a fanout exchange: jobs nobody waits for cost nothing. Every web process
listens on a queue of its own bound to it and reads the job at once, instead of at its next poll;
the poll stays, slower, for everything else (progress, a cancel, a lost message).

The message is transient and unconfirmed: losing one costs a waiter one poll interval, never a job.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from celery import Celery
from kombu import Exchange, Queue

from services.core.broker import BROKER_ERRORS

log = logging.getLogger(__name__)
EXCHANGE = Exchange("switchboard.job-ended", type="fanout", durable=False)
# How long the listener waits for a message before it checks its connection again.
IDLE_SECONDS = 5.0
# After the broker went away, before connecting again.
RECONNECT_SECONDS = 1.0


class EndedSignal(Protocol):
    def send(self, job_id: str) -> None:
        """Tell the web processes that the watched job `job_id` has ended; never raises."""


class AmqpEndedSignal:
    """Sends on the Celery app's pooled producers: a connection the worker already holds."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def send(self, job_id: str) -> None:
        try:
            with self._app.producer_pool.acquire(block=True, timeout=1) as producer:
                producer.publish(
                    job_id,
                    exchange=EXCHANGE,
                    routing_key="",
                    declare=[EXCHANGE],
                    serializer="json",
                    delivery_mode=1,
                    retry=False,
                )
        except BROKER_ERRORS as exc:
            # The waiter's poll finds the end instead, one interval later.
            log.info("job %s ended; waiters not told at once: %s", job_id, exc)


class StubEndedSignal:
    """Keeps what it is given, for tests."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, job_id: str) -> None:
        self.sent.append(job_id)


class EndedListener:
    """A thread of a web process that hands each ended job's id to `on_ended`."""

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._thread: threading.Thread | None = None

    def start(self, on_ended: Callable[[str], None]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, args=(on_ended,), name="job-ended", daemon=True
            )
            self._thread.start()

    def _listen(self, on_ended: Callable[[str], None]) -> None:
        def received(body: Any, message: Any) -> None:
            if isinstance(body, str):
                on_ended(body)

        while True:
            try:
                with self._app.connection_for_read() as conn:
                    # A server-named queue of this process's own, gone when it disconnects.
                    queue = Queue(exchange=EXCHANGE, exclusive=True, auto_delete=True)
                    with conn.Consumer(queue, callbacks=[received], no_ack=True, accept=["json"]):
                        while True:
                            with contextlib.suppress(TimeoutError):
                                conn.drain_events(timeout=IDLE_SECONDS)
            except BROKER_ERRORS as exc:
                log.info("not listening for ended jobs until the broker is back: %s", exc)
                threading.Event().wait(RECONNECT_SECONDS)
