"""The pipelined publisher's bookkeeping and reconnects, with no RabbitMQ behind it."""

from collections.abc import Iterator, Sequence
from typing import Any
from unittest import mock

import pytest
from kombu import Producer
from kombu.transport import pyamqp

from services.core import queues
from services.core.celery_app import app
from services.core.jobs import publisher
from services.core.jobs.limits import TimeLimits
from services.core.jobs.publisher import (
    RUN_JOB,
    AmqpPublisher,
    BrokerUnavailable,
    Message,
    RunJobMessages,
    StubPublisher,
    _Confirms,
)


def _sent(*job_ids: str) -> _Confirms:
    confirms = _Confirms()
    confirms.begin()
    for job_id in job_ids:
        confirms.sent(job_id)
    return confirms


def test_a_multiple_ack_settles_every_tag_up_to_it() -> None:
    confirms = _sent("a", "b", "c", "d")
    confirms.ack(2, multiple=False)
    confirms.ack(3, multiple=True)
    assert confirms.confirmed == ["b", "a", "c"] and confirms.waiting == 1
    confirms.nack(4, multiple=True)
    assert confirms.refused == ["d"] and confirms.waiting == 0


def test_tags_run_on_across_calls_on_one_channel() -> None:
    confirms = _sent("a")
    confirms.ack(1, multiple=False)
    confirms.begin()
    confirms.sent("b")
    confirms.ack(2, multiple=False)
    assert confirms.confirmed == ["b"] and confirms.waiting == 0


class _FakeChannel:
    """Stands in for a connection: confirms what `plan` allows, then fails as `plan` says."""

    plan: Iterator[tuple[int, Exception | None]]
    made: list["_FakeChannel"]

    def __init__(self, _app: object) -> None:
        self.confirms = _Confirms()
        self.published: list[Message] = []
        self.closed = False
        _FakeChannel.made.append(self)

    def publish(self, messages: Sequence[Message], timeout: float) -> None:
        self.confirms.begin()
        self.published = list(messages)
        confirmed, failure = next(_FakeChannel.plan)
        self.confirms.confirmed = [job_id for job_id, _, _ in messages[:confirmed]]
        if failure is not None:
            raise failure

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> list[_FakeChannel]:
    monkeypatch.setattr(publisher, "_ConfirmChannel", _FakeChannel)
    _FakeChannel.made = []
    return _FakeChannel.made


def _plan(*steps: tuple[int, Exception | None]) -> None:
    _FakeChannel.plan = iter(steps)


LIMITS = TimeLimits(soft=30.0, hard=40.0)
MESSAGES = [("j1", 5, LIMITS), ("j2", 5, LIMITS), ("j3", 9, LIMITS)]


def test_a_connection_that_died_since_the_last_call_is_replaced_once(
    channels: list[_FakeChannel],
) -> None:
    amqp = AmqpPublisher(app)
    _plan((3, None), (1, ConnectionResetError("reset by peer")), (2, None))
    amqp.publish(MESSAGES)
    amqp.publish(MESSAGES)
    assert len(channels) == 2 and channels[0].closed
    # Only what the dead connection had not confirmed goes out again.
    assert channels[1].published == MESSAGES[1:]


def test_a_new_connection_that_fails_is_a_refusal_naming_what_was_confirmed(
    channels: list[_FakeChannel],
) -> None:
    amqp = AmqpPublisher(app)
    _plan((1, ConnectionResetError("reset by peer")))
    with pytest.raises(BrokerUnavailable) as refused:
        amqp.publish(MESSAGES)
    assert refused.value.confirmed == {"j1"} and len(channels) == 1


@pytest.mark.parametrize(
    "failure", [TimeoutError("unconfirmed after 5s"), BrokerUnavailable("refused 1 message")]
)
def test_a_timeout_or_a_nack_is_not_tried_again(
    channels: list[_FakeChannel], failure: Exception
) -> None:
    amqp = AmqpPublisher(app)
    _plan((3, None), (2, failure))
    amqp.publish(MESSAGES)
    with pytest.raises(BrokerUnavailable) as refused:
        amqp.publish(MESSAGES)
    assert refused.value.confirmed == {"j1", "j2"} and len(channels) == 1
    _plan((3, None))
    amqp.publish(MESSAGES)
    assert len(channels) == 2


def test_the_stub_keeps_messages_or_refuses_after_some() -> None:
    stub = StubPublisher()
    stub.publish(MESSAGES)
    stub.refuse_after = 1
    with pytest.raises(BrokerUnavailable) as refused:
        stub.publish([("j4", 1, LIMITS), ("j5", 1, LIMITS)])
    assert refused.value.confirmed == {"j4"}
    assert stub.messages == [*MESSAGES, ("j4", 1, LIMITS)] and len(stub.calls) == 2


def _through_celery(
    task_id: str, job_id: str, priority: int, limits: TimeLimits
) -> tuple[Any, dict[str, Any]]:
    """The message and routing Celery itself sends for a job (its path before this module's)."""
    channel = mock.MagicMock()
    channel.prepare_message = lambda *a, **k: pyamqp.Channel.prepare_message(channel, *a, **k)
    sent: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    channel.basic_publish = lambda *a, **k: sent.append((a, k))
    with mock.patch.object(Producer, "maybe_declare"):
        message = app.amqp.create_task_message(
            task_id, RUN_JOB, [job_id], {}, time_limit=limits.hard, soft_time_limit=limits.soft
        )
        app.amqp.send_task_message(
            Producer(channel, auto_declare=False),
            RUN_JOB,
            message,
            queue=queues.JOBS,
            priority=priority,
            retry=False,
        )
    [(args, kwargs)] = sent
    return args[0], kwargs


@pytest.mark.parametrize("priority", [0, 7, 9])
def test_a_stamped_message_is_the_one_celery_sends(
    monkeypatch: pytest.MonkeyPatch, priority: int
) -> None:
    expected, routing = _through_celery("task-1", "6650f1c2a8e4b7d9c0a1b2c3", priority, LIMITS)
    monkeypatch.setattr(publisher, "uuid", lambda: "task-1")
    messages = RunJobMessages(app)
    made = messages.make("6650f1c2a8e4b7d9c0a1b2c3", priority, LIMITS)
    assert made.body == expected.body
    assert made.properties == expected.properties
    assert (messages.exchange, messages.routing_key) == (
        routing["exchange"],
        routing["routing_key"],
    )


def test_each_stamped_message_has_a_task_id_of_its_own() -> None:
    messages = RunJobMessages(app)
    first, second = messages.make("a", 5, LIMITS), messages.make("b", 5, LIMITS)
    ids = {m.properties["application_headers"]["id"] for m in (first, second)}
    assert len(ids) == 2
    assert {m.properties["correlation_id"] for m in (first, second)} == ids


def test_only_what_a_202_promises_waits_for_confirms() -> None:
    from services.core.celery_app import app
    from services.core.tickets.dispatch import confirming_connections

    # Workers' events and beat's ticks go out on the app's connections, unconfirmed ...
    assert not app.connection_for_write().transport_options.get("confirm_publish")
    # ... while an accepted ticket's assignment message is confirmed, like a job's.
    assert confirming_connections().connection.transport_options["confirm_publish"] is True


class _AmqpChannel:
    """A confirm-mode channel's surface: publishes recorded, acks delivered by the connection."""

    def __init__(self) -> None:
        self.events: dict[str, set[Any]] = {"basic_ack": set(), "basic_nack": set()}
        self.sent: list[tuple[Any, str, str]] = []
        self.confirm_mode = False

    def confirm_select(self) -> None:
        self.confirm_mode = True

    def basic_publish(self, message: Any, exchange: str, routing_key: str) -> None:
        self.sent.append((message, exchange, routing_key))


class _AmqpConnection:
    """Answers each wait for events with the broker's `answer`: ack, nack of the last, or none."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.chan = _AmqpChannel()
        self.connected = False
        self.waits: list[float] = []
        self.options: dict[str, Any] = {}

    def connect(self) -> None:
        self.connected = True

    def channel(self) -> _AmqpChannel:
        return self.chan

    def drain_events(self, timeout: float) -> None:
        self.waits.append(timeout)
        last = len(self.chan.sent)
        acked = {"ack": last, "nack-last": last - 1}.get(self.answer)
        for ack in self.chan.events["basic_ack"] if acked else ():
            ack(acked, True)
        for nack in self.chan.events["basic_nack"] if self.answer == "nack-last" else ():
            nack(last, False)


def _confirm_channel(
    answer: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[publisher._ConfirmChannel, _AmqpConnection, mock.Mock]:
    conn = _AmqpConnection(answer)
    declared = mock.Mock()
    monkeypatch.setattr(publisher, "_JOBS_QUEUE", declared)

    def connection_for_write(transport_options: dict[str, Any]) -> _AmqpConnection:
        conn.options = transport_options
        return conn

    monkeypatch.setattr(app, "connection_for_write", connection_for_write)
    return publisher._ConfirmChannel(app), conn, declared


def test_a_confirm_channel_is_its_own_connection_in_confirm_mode_with_the_queue_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, conn, declared = _confirm_channel("ack", monkeypatch)
    assert conn.options == {"confirm_publish": False} and conn.connected
    assert conn.chan.confirm_mode
    declared.bind.assert_called_once_with(conn.chan)
    declared.bind.return_value.declare.assert_called_once_with()


def test_a_confirm_channel_sends_every_message_then_waits_for_the_acks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel, conn, _ = _confirm_channel("ack", monkeypatch)
    channel.publish(MESSAGES, timeout=5.0)
    assert [(exchange, key) for _, exchange, key in conn.chan.sent] == [("", queues.JOBS)] * 3
    assert [m.properties["priority"] for m, _, _ in conn.chan.sent] == [5, 5, 9]
    assert channel.confirms.confirmed == ["j1", "j2", "j3"] and channel.confirms.waiting == 0
    assert len(conn.waits) == 1 and 4.0 < conn.waits[0] <= 5.0


@pytest.mark.parametrize(
    ("answer", "timeout", "error", "match", "confirmed"),
    [
        # A nack is the broker refusing; the others were confirmed all the same.
        ("nack-last", 5.0, BrokerUnavailable, r"^the broker refused 1 messages$", ["j1", "j2"]),
        # No answer at all: given up at the timeout, with every wait inside it.
        ("none", 0.01, TimeoutError, r"^3 messages unconfirmed after 0\.01s$", []),
    ],
)
def test_a_confirm_channel_fails_on_a_nack_or_at_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    timeout: float,
    error: type[Exception],
    match: str,
    confirmed: list[str],
) -> None:
    channel, conn, _ = _confirm_channel(answer, monkeypatch)
    with pytest.raises(error, match=match):
        channel.publish(MESSAGES, timeout=timeout)
    assert channel.confirms.confirmed == confirmed
    assert conn.waits and all(0 < wait <= timeout for wait in conn.waits)
