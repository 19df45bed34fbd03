"""Short versions of the fault drills (`make drills` runs the full ones, bench/drills.py).

Each breaks one thing under a few seconds of load on the session stack, heals it, and audits
MongoDB against what the client was told: nothing accepted is lost, nothing recorded twice.
Timings are reported by `make drills`, never asserted here.
"""

from __future__ import annotations

import pytest

from bench import backends, drill
from bench.faults import FAULTS, Fault
from services.localstack.stack import LocalStack
from tests.integration.client import Api, wait_for

pytestmark = pytest.mark.integration

# `echo` (tests/integration/jobtypes.py) returns its payload, so its token round-trips.
ECHO = drill.JobKind("echo", {}, "value")
SHORT = drill.Timing(before=1.5, outage=2.0, after=3.0, rate=10.0, drain_timeout=90.0)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_drill_loses_nothing_and_records_once(fault: Fault, stack: LocalStack, api: Api) -> None:
    wait_for(lambda: api.get("/health").status == 200, 120, "a healthy stack before the drill")
    backends.purge_jobs_queue(stack.config)
    outcome = drill.run(stack, fault, ECHO, SHORT)
    assert outcome["accepted"] > 0, outcome
    assert outcome["lost"] == 0, outcome
    assert outcome["recorded_twice"] == 0, outcome
    # Leave a healthy stack to the tests after this one.
    wait_for(lambda: api.get("/health").status == 200, 120, "health after the drill")
