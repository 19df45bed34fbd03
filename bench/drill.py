"""One drill: steady load, break one thing, heal it, let the load run on, then audit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import audit, backends
from bench.faults import Fault
from bench.load import Load
from services.localstack.stack import LocalStack


@dataclass(frozen=True)
class Timing:
    """Seconds of load before the fault, how long it lasts, and how long the load goes on after
    the heal step returns (a heal can itself take seconds, e.g. a RabbitMQ start)."""

    before: float = 5.0
    outage: float = 5.0
    after: float = 15.0
    # Below what 2 workers finish per second on FerretDB, so the drain measures recovery only.
    rate: float = 10.0
    drain_timeout: float = 120.0


@dataclass(frozen=True)
class JobKind:
    """What the load submits; `token_field` is the payload field that carries its token."""

    type: str
    payload: dict[str, Any]
    token_field: str


# A bound on the load whatever happens; a drill normally stops it much earlier.
MAX_LOAD_SECONDS = 300.0
TALLY = JobKind("tally", {"seconds": 0.1}, "token")


def run(stack: LocalStack, fault: Fault, kind: JobKind, timing: Timing) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(seconds=1)
    load = Load(
        stack.config.base_url,
        kind.type,
        kind.payload,
        kind.token_field,
        rate=timing.rate,
        seconds=MAX_LOAD_SECONDS,
    ).start()
    started = time.time()
    time.sleep(timing.before)
    broke_at = time.time()
    fault.inject(stack)
    time.sleep(timing.outage)
    fault.heal(stack)
    healed_at = time.time()
    time.sleep(timing.after)
    load.stop()
    outcome = audit.audit(
        backends.database(stack.config), load, since, healed_at, timing.drain_timeout
    )
    return {
        "drill": fault.name,
        "fault": fault.title,
        "broke_at_s": round(broke_at - started, 1),
        "healed_at_s": round(healed_at - started, 1),
        **outcome,
    }
