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
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.core.errors import (
    DatabaseUnavailable,
    NotFound,
    SwitchboardError,
    TooLarge,
    Unavailable,
)
from services.web.current import runtime

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
T = TypeVar("T")


def found(doc: T | None, what: str, key: str) -> T:
    """The document, or a 404 naming what was looked for."""
    if doc is None:
        raise NotFound(f"no {what} with id {key!r}")
    return doc


def located(body: Any, status: int, location: str) -> Response:
    """A 201 or 202 answer that says where the new resource lives."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = location
    return response


def too_large() -> TooLarge:
    limit = runtime().settings.max_body_bytes
    return TooLarge(f"request body is larger than {limit} bytes", limit=limit)


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
            except SwitchboardError as exc:
                if exc.status >= 500:
                    raise  # a dependency that is down keeps the route's own answer to it
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


def answer(exc: SwitchboardError) -> Response:
    """The one answer to every error of the hierarchy: its status, its body."""
    if isinstance(exc, Unavailable):
        log.warning("%s: %s", type(exc).__name__, exc)
    body = exc.body()
    return error_response(exc.status, body.pop("error"), **body)


def register(app: Flask) -> None:
    app.register_error_handler(SwitchboardError, answer)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response:
        return answer(too_large())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.description or exc.name)
        # Werkzeug's headers say more than its HTML did: `Allow` on a 405, for one.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    # pymongo's error for a database that is down, answered as ours. The broker's are turned
    # into BrokerUnavailable where the publish happens: an OSError here is not a broker's.
    @app.errorhandler(ConnectionFailure)
    def _mongo_down(exc: ConnectionFailure) -> Response:
        return answer(DatabaseUnavailable(str(exc)))

    # Any other error of the database's own (an internal error, a storage engine that gave up):
    # a dependency failing, not the request, so a 503 the client may retry rather than a 500.
    # Errors a request causes (a duplicate key) are caught where they happen.
    @app.errorhandler(PyMongoError)
    def _mongo_failed(exc: PyMongoError) -> Response:
        return answer(DatabaseUnavailable(str(exc)))

    # The last resort: Flask picks the most specific handler, so every one above comes first.
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Its text may hold internals (paths, addresses): logged here, not sent.
        log.exception("unhandled error: %s", exc)
        return error_response(500, "internal server error")
