"""Putting `switchboard.run_job` messages on the broker, many at a time, each one confirmed.

Every message of a call is written first and the broker's confirms are then awaited together, so
a call costs one round trip however many jobs it carries. `AmqpPublisher` does that on RabbitMQ;
`StubPublisher` keeps the messages in memory for tests (the model is Dramatiq's StubBroker).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import amqp
from amqp.exceptions import AMQPError
from celery import Celery
from kombu import Connection
from kombu.utils.uuid import uuid

from services.core import queues
from services.core.broker import BROKER_ERRORS, CONFIRM_TIMEOUT
from services.core.errors import BrokerUnavailable
from services.core.jobs.limits import TimeLimits

RUN_JOB = "switchboard.run_job"
# py-amqp raises its own errors when used without kombu's wrapping, as here.
_AMQP_FAILURES = (*BROKER_ERRORS, AMQPError)

# (job id, priority 0-9, the time limits of its type) for one message.
Message = tuple[str, int, TimeLimits]
_JOBS_QUEUE = next(queue for queue in queues.work_queues if queue.name == queues.JOBS)
# What Celery's `persistent` delivery mode is on the wire: the broker keeps the message on disk.
PERSISTENT = 2


class Publisher(Protocol):
    def publish(self, messages: Sequence[Message]) -> None:
        """Return once the broker has confirmed every message; else raise BrokerUnavailable."""


class _Confirms:
    """What a confirm-mode channel is owed, by delivery tag.

    The broker numbers the channel's publishes 1, 2, 3... and settles them by number: that one,
    or with `multiple` every number up to it.
    """

    def __init__(self) -> None:
        self._sent = 0
        self._unsettled: OrderedDict[int, str] = OrderedDict()
        self.confirmed: list[str] = []
        self.refused: list[str] = []

    @property
    def waiting(self) -> int:
        return len(self._unsettled)

    def begin(self) -> None:
        """Start a call: the outcomes of the previous one are forgotten."""
        self.confirmed, self.refused = [], []

    def sent(self, job_id: str) -> None:
        self._sent += 1
        self._unsettled[self._sent] = job_id

    def ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, self.confirmed)

    def nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, self.refused)

    def _settle(self, tag: int, multiple: bool, into: list[str]) -> None:
        if not multiple:
            into.append(self._unsettled.pop(tag))
            return
        while self._unsettled and next(iter(self._unsettled)) <= tag:
            into.append(self._unsettled.popitem(last=False)[1])


class RunJobMessages:
    """Celery's protocol-2 `switchboard.run_job` message, built by Celery once, stamped per job.

    Through Celery (create_task_message, then send_task_message and kombu's Producer), routing,
    queue declaration, signals and serialisation cost more web CPU per job than the publish
    itself. The messages differ only in the task id, the job id and the priority, so Celery builds
    one, once, and every job gets a copy with those three changed (a unit test holds the copies
    equal to what Celery sends). The routing is the one Celery chooses for a direct exchange's
    queue: the default exchange, with the queue's name as key.
    """

    exchange = ""
    routing_key = queues.JOBS

    def __init__(self, app: Celery) -> None:
        headers, properties, body, _sent_event = app.amqp.create_task_message(
            uuid(), RUN_JOB, [""], {}
        )
        self._headers: dict[str, Any] = headers
        self._properties: dict[str, Any] = properties
        # The body is (args, kwargs, embed); only args, the job id, changes.
        self._after_args: list[Any] = list(body[1:])

    def make(self, job_id: str, priority: int, limits: TimeLimits) -> amqp.Message:
        task_id = uuid()
        return amqp.Message(
            json.dumps([[job_id], *self._after_args]),
            priority=priority,
            content_type="application/json",
            content_encoding="utf-8",
            application_headers={
                **self._headers,
                "id": task_id,
                "root_id": task_id,
                "argsrepr": repr([job_id]),
                # The worker's pool enforces these per message: [hard, soft], in seconds.
                "timelimit": [limits.hard, limits.soft],
            },
            **{**self._properties, "correlation_id": task_id},
            delivery_mode=PERSISTENT,
        )


class _ConfirmChannel:
    """A connection of its own with one channel in confirm mode."""

    def __init__(self, app: Celery) -> None:
        # The app's connections wait for each confirm in turn; this one must not.
        self.connection: Connection = app.connection_for_write(
            transport_options={"confirm_publish": False}
        )
        self.connection.connect()
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self.confirms = _Confirms()
        self.channel.events["basic_ack"].add(self.confirms.ack)
        self.channel.events["basic_nack"].add(self.confirms.nack)
        # Once per connection, as kombu's Producer did on its first publish: a broker that lost
        # the queue gets it back before a message is routed to nowhere.
        _JOBS_QUEUE.bind(self.channel).declare()
        self._messages = RunJobMessages(app)

    def publish(self, messages: Sequence[Message], timeout: float) -> None:
        """Send every message, then read acks until each is settled or `timeout` runs out."""
        self.confirms.begin()
        make, send = self._messages.make, self.channel.basic_publish
        exchange, routing_key = self._messages.exchange, self._messages.routing_key
        for job_id, priority, limits in messages:
            # No `task-sent` event: it would double the messages for a state Flower can skip.
            send(make(job_id, priority, limits), exchange=exchange, routing_key=routing_key)
            self.confirms.sent(job_id)
        deadline = time.monotonic() + timeout
        while self.confirms.waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.confirms.waiting} messages unconfirmed after {timeout}s")
            self.connection.drain_events(timeout=remaining)
        if self.confirms.refused:
            raise BrokerUnavailable(f"the broker refused {len(self.confirms.refused)} messages")

    def close(self) -> None:
        # It is being replaced because it failed: closing it is only tidiness.
        with contextlib.suppress(*_AMQP_FAILURES):
            self.connection.close()


class AmqpPublisher:
    """Publishes on a confirm-mode channel of its own connection, one call at a time."""

    def __init__(self, app: Celery, timeout: float = CONFIRM_TIMEOUT) -> None:
        self._app = app
        self._timeout = timeout
        self._lock = threading.Lock()
        self._channel: _ConfirmChannel | None = None

    def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._lock:
            confirmed: set[str] = set()
            while True:
                stale = self._channel is not None
                try:
                    self._publish_once([m for m in messages if m[0] not in confirmed])
                    return
                except (*_AMQP_FAILURES, BrokerUnavailable) as exc:
                    self._drop(confirmed)
                    # A connection made by an earlier call may have died since (a broker
                    # restart): one more try on a new one. A duplicate message is harmless; a
                    # needless 503 is not. A timeout or a refusal is an answer: no second try.
                    if stale and not isinstance(exc, (TimeoutError, BrokerUnavailable)):
                        continue
                    raise BrokerUnavailable(str(exc) or type(exc).__name__, confirmed) from exc

    def _publish_once(self, messages: Sequence[Message]) -> None:
        if self._channel is None:
            self._channel = _ConfirmChannel(self._app)
        self._channel.publish(messages, self._timeout)

    def _drop(self, confirmed: set[str]) -> None:
        """Forget the channel after a failure, keeping what it confirmed before failing."""
        if self._channel is not None:
            confirmed.update(self._channel.confirms.confirmed)
            self._channel.close()
            self._channel = None


class StubPublisher:
    """An in-memory broker for tests: keeps what it is given, or refuses as told."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.calls: list[list[Message]] = []
        self.refuse_after: int | None = None

    def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        self.calls.append(list(messages))
        taken = list(messages)[: self.refuse_after]
        self.messages.extend(taken)
        if self.refuse_after is not None:
            raise BrokerUnavailable("refused by the stub", {message[0] for message in taken})

    def reset(self) -> None:
        self.messages.clear()
        self.calls.clear()
        self.refuse_after = None
