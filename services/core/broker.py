"""What a broker failure is, for every flow that publishes: jobs, tickets, health checks."""

from __future__ import annotations

from collections.abc import Collection

from kombu.exceptions import KombuError

# How long the broker may take to confirm one call's messages before the call is a 503.
CONFIRM_TIMEOUT = 5.0

# What a broker that is down, unreachable or refusing raises through Celery and kombu.
BROKER_ERRORS: tuple[type[Exception], ...] = (KombuError, OSError, ConnectionError)


class BrokerUnavailable(Exception):
    """The broker did not confirm a publish; `confirmed` names the messages it did confirm."""

    def __init__(self, message: str, confirmed: Collection[str] = ()) -> None:
        super().__init__(message)
        self.confirmed = frozenset(confirmed)
