"""What a broker failure is, for every flow that publishes: jobs, tickets, health checks."""

from __future__ import annotations

from kombu.exceptions import KombuError

# How long the broker may take to confirm one call's messages before the call is a 503.
CONFIRM_TIMEOUT = 5.0

# What a broker that is down, unreachable or refusing raises through Celery and kombu.
BROKER_ERRORS: tuple[type[Exception], ...] = (KombuError, OSError, ConnectionError)
