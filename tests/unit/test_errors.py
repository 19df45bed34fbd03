"""One hierarchy, one handler: each error answers with the status on its class."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from services.core import errors
from services.core.jobs.submission import IdempotencyConflict, InvalidJob
from services.core.tickets.roster import AgentBusy


@pytest.fixture
def raising(app: Flask, client: FlaskClient) -> Callable[[Exception], object]:
    """GET /boom raises `error` (an admin's route, like every undeclared one)."""

    pending: list[Exception] = []

    def boom() -> str:
        raise pending.pop()

    app.add_url_rule("/boom", "boom", boom)

    def serve(error: Exception) -> object:
        pending.append(error)
        return client.get("/boom")

    return serve


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (errors.InvalidRequest("x: bad", field="x"), 400, {"error": "x: bad", "field": "x"}),
        (
            InvalidJob("payload.n", "too big"),
            400,
            {"error": "payload.n: too big", "field": "payload.n"},
        ),
        (errors.Forbidden("no"), 403, {"error": "no"}),
        (errors.NotFound("no job"), 404, {"error": "no job"}),
        (IdempotencyConflict("k1"), 409, {"key": "k1"}),
        (AgentBusy(), 409, {"error": "the agent kept changing; try again"}),
        (errors.TooLarge("big", limit=3), 413, {"limit": 3}),
        (errors.UnsupportedMediaType("json only"), 415, {"error": "json only"}),
    ],
)
def test_each_error_answers_with_its_class_status(
    raising: Callable[[Exception], object], error: Exception, status: int, body: dict
) -> None:
    reply = raising(error)
    assert reply.status_code == status  # type: ignore[attr-defined]
    assert body.items() <= reply.get_json().items()  # type: ignore[attr-defined]


def test_a_dependency_down_is_a_503_that_tells_no_internals(
    raising: Callable[[Exception], object],
) -> None:
    for error, words in (
        (errors.BrokerUnavailable("amqp://10.0.0.7:5672 refused"), "message broker"),
        (ServerSelectionTimeoutError("mongo-2.internal:27017 timed out"), "database"),
        # The database up but failing on its own side (a storage engine that panicked).
        (OperationFailure("WiredTiger error: WT_PANIC at /data/internal", code=1), "database"),
    ):
        reply = raising(error)
        assert reply.status_code == 503 and reply.headers["Retry-After"]  # type: ignore[attr-defined]
        text = reply.get_json()["error"]  # type: ignore[attr-defined]
        assert words in text and "internal" not in text and "10.0.0.7" not in text


def test_an_os_error_in_a_view_is_a_500_not_a_broker_outage(
    raising: Callable[[Exception], object],
) -> None:
    reply = raising(FileNotFoundError("/etc/switchboard/missing.conf"))
    assert reply.status_code == 500  # type: ignore[attr-defined]
    assert reply.get_json() == {"error": "internal server error"}  # type: ignore[attr-defined]
