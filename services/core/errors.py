"""Every error Switchboard raises on purpose, in one hierarchy.

An error a client can cause carries its HTTP status on its class, and the web app answers every
one of them through one handler (services/web/errors.py) as `{"error": message, **extra}`.
Errors of a job's own run (a cancel, a permanent failure) are here too; they never reach HTTP.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar


class SwitchboardError(Exception):
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # `field` names where a request went wrong; it leads the answer's other details.
        self.extra: dict[str, Any] = {"field": field, **extra} if field is not None else extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


# -- what a client is told ------------------------------------------------------------------------


class InvalidRequest(SwitchboardError):
    """A body, query or header the API cannot take; `field` names where."""

    status = 400


class Unauthorized(SwitchboardError):
    """No API key, or one that is unknown or revoked."""

    status = 401


class Forbidden(SwitchboardError):
    """A valid key without the scope, or the agent, the route needs."""

    status = 403


class NotFound(SwitchboardError):
    """No job, ticket, agent or key with that id (or none this key may see)."""

    status = 404


class Conflict(SwitchboardError):
    """A move the state machine does not allow, or a key reused for another request."""

    status = 409


class TooLarge(SwitchboardError):
    """A body over MAX_BODY_BYTES."""

    status = 413


class UnsupportedMediaType(SwitchboardError):
    """A JSON route sent something other than `application/json`."""

    status = 415


class Unavailable(SwitchboardError):
    """A dependency is down: try again shortly (the answer carries `Retry-After`). What went
    wrong is logged; the client is told only which dependency, as it may hold internals."""

    status = 503
    public: ClassVar[str] = "a service is unavailable, try again shortly"

    def body(self) -> dict[str, Any]:
        return {"error": self.public}


class Busy(Unavailable):
    """This replica has no room for the request now (every watching slot is taken)."""

    public = "too many requests are watching jobs on this replica, try again shortly"


class DatabaseUnavailable(Unavailable):
    public = "the database is unavailable, try again shortly"


class BrokerUnavailable(Unavailable):
    """The broker did not confirm a publish; `confirmed` names the messages it did confirm."""

    public = "the message broker is unavailable, try again shortly"

    def __init__(self, message: str, confirmed: Collection[str] = ()) -> None:
        super().__init__(message)
        self.confirmed = frozenset(confirmed)


# -- what ends a job's run ------------------------------------------------------------------------


class JobCancelled(SwitchboardError):
    """Raised inside a handler when its job was cancelled while running."""


class PermanentError(SwitchboardError):
    """Raise from a handler to fail the job at once, without further attempts."""
