"""Every error as JSON with the right status; a dependency that is down is a 503, never a 500.

Werkzeug's own errors (404, 405 with its `Allow` header, 413) and anything unexpected keep the
same `{"error": ...}` shape; an unexpected one is logged and answered without its details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, jsonify
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.core.broker import BROKER_ERRORS, BrokerUnavailable
from services.core.config import settings
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


def too_large() -> ApiError:
    limit = settings().max_body_bytes
    return ApiError(413, f"request body is larger than {limit} bytes", limit=limit)


Reply = Callable[[int, str], Response]
View = Callable[..., Response]
_ENVELOPE = "switchboard_envelope"


def in_envelope(reply: Reply) -> Callable[[View], View]:
    """Answer a route's refusals (bad body, no key) with `reply`, its own envelope (the seed
    systems'), rather than `{"error"}`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def answer(*args: Any, **kwargs: Any) -> Response:
            try:
                return view(*args, **kwargs)
            except ApiError as exc:
                return reply(exc.status, exc.message)

        setattr(answer, _ENVELOPE, reply)
        return answer

    return decorate


def envelope_of(view: Callable[..., Any] | None) -> Reply | None:
    return getattr(view, _ENVELOPE, None)


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
        return _api_error(too_large())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.description or exc.name)
        # Werkzeug's headers say more than its HTML did: `Allow` on a 405, for one.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

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

    # The last resort: Flask picks the most specific handler, so every one above comes first.
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Its text may hold internals (paths, addresses): logged here, not sent.
        log.exception("unhandled error: %s", exc)
        return error_response(500, "internal server error")
