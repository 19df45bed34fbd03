"""Every error as JSON with the right status; a dependency that is down is a 503, never a 500."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from flask import Flask, Response, jsonify
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.core.config import settings
from services.core.jobs.publisher import BROKER_ERRORS, BrokerUnavailable
from services.core.jobs.submission import IdempotencyConflict, InvalidJob

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
T = TypeVar("T")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def found(doc: T | None, what: str, key: str) -> T:
    """The document, or a 404 naming what was looked for."""
    if doc is None:
        raise ApiError(404, f"no {what} with id {key!r}")
    return doc


def located(body: Any, status: int, location: str) -> Response:
    """A 201 or 202 answer that says where the new resource lives."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = location
    return response


def error_response(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, **exc.extra)

    @app.errorhandler(InvalidJob)
    def _invalid_job(exc: InvalidJob) -> Response:
        return error_response(400, f"{exc.field}: {exc.message}", field=exc.field, **exc.extra)

    @app.errorhandler(IdempotencyConflict)
    def _idempotency_conflict(exc: IdempotencyConflict) -> Response:
        return error_response(
            409, "this Idempotency-Key was already used for a different request", key=str(exc)
        )

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response:
        limit = settings().max_body_bytes
        return error_response(413, f"request body is larger than {limit} bytes", limit=limit)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(ConnectionFailure)
    def _mongo_down(exc: ConnectionFailure) -> Response:
        log.warning("MongoDB unavailable: %s", exc)
        return error_response(503, "the database is unavailable, try again shortly")

    @app.errorhandler(BrokerUnavailable)
    def _broker_down(exc: BrokerUnavailable) -> Response:
        log.warning("broker unavailable: %s", exc)
        return error_response(503, "the message broker is unavailable, try again shortly")

    for broker_error in BROKER_ERRORS:
        app.register_error_handler(broker_error, _broker_down)
