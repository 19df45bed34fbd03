"""What the ticket flows put on the broker: which task, for which id, on which queue, how urgent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kombu.exceptions import OperationalError

from services.core import queues
from services.core.broker import CONFIRM_TIMEOUT
from services.core.celery_app import app
from services.core.errors import BrokerUnavailable
from services.core.tickets import dispatch


class _Pool:
    """A connection pool that hands out one marker connection and records how it was asked."""

    connection = object()

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    @contextmanager
    def acquire(self, **how: Any) -> Iterator[object]:
        self.asked.append(how)
        yield self.connection


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> _Pool:
    fake = _Pool()
    monkeypatch.setattr(dispatch, "confirming_connections", lambda: fake)
    return fake


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(app, "send_task", lambda task, **kw: calls.append((task, kw)))
    return calls


def test_a_tickets_assignment_goes_on_the_tickets_queue_at_its_priority(pool, sent):
    dispatch.publish_assign("t1", 7)
    assert sent == [
        (
            dispatch.ASSIGN_TICKET,
            {
                "args": ["t1"],
                "queue": queues.TICKETS,
                "priority": 7,
                "connection": pool.connection,
            },
        )
    ]
    # A busy pool is waited for, as long as a confirm may take, rather than failing at once.
    assert pool.asked == [{"block": True, "timeout": CONFIRM_TIMEOUT}]


def test_a_pull_goes_before_any_new_ticket(pool, sent):
    dispatch.publish_pull("a1")
    task, how = sent[0]
    assert (task, how["args"], how["queue"]) == (dispatch.AGENT_PULL, ["a1"], queues.TICKETS)
    assert how["priority"] == queues.MAX_PRIORITY


def test_a_broker_error_is_broker_unavailable(pool, monkeypatch):
    def refuse(_task: str, **_kw: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(app, "send_task", refuse)
    with pytest.raises(BrokerUnavailable, match="connection refused"):
        dispatch.publish_assign("t1", 5)


def test_a_nudge_the_broker_refuses_is_left_to_the_sweep(monkeypatch, caplog):
    def refuse(_agent_id: str) -> None:
        raise BrokerUnavailable("connection refused")

    monkeypatch.setattr(dispatch, "publish_pull", refuse)
    dispatch.nudge_pull("a1")  # no exception: the client's request does not depend on it
    assert "a1" in caplog.text


def test_the_pool_waits_for_confirms_and_is_as_large_as_the_apps():
    fresh = dispatch._confirming_pool()
    assert fresh.connection.transport_options["confirm_publish"] is True
    assert fresh.limit == app.conf.broker_pool_limit
