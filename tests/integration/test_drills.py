"""Short versions of the fault drills: the code `make drills` runs (tools/drills/suite.py), at a
small scale.

Each breaks one thing while clients submit, heals it, and audits the database against what the
clients were told: nothing accepted is lost, nothing recorded twice. They run on a private stack
of their own, as `make drills` does: it registers the `tally` job type the audit relies on, holds
a seeded history like the full drills' (only smaller), and its faults leave the session stack of
the other tests alone. Timings are reported by `make drills`, never asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.drills import drill
from tools.drills import suite as drills
from tools.drills.faults import FAULTS, Fault
from tools.localstack import stackup
from tools.localstack.stack import FAST_CLOCKS, LocalStack

pytestmark = pytest.mark.integration

# A few seconds of load per drill; `make drills` runs 10,000 jobs on 1,000,000 finished ones.
# The drain wait only runs out when a job is really stuck; a loaded CI machine can be slow.
SCALE = drill.Scale(jobs=150, clients=8, outage=2.0, drain_timeout=180.0)
HISTORY = {"jobs": 2_000, "agents": 50, "tickets": 200}


@pytest.fixture(scope="module")
def drill_stack() -> Iterator[LocalStack]:
    with stackup.running_stack(workers=2, env=FAST_CLOCKS) as stack:
        drills.seed(stack, HISTORY)
        yield stack


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_drill_loses_nothing_and_records_once(fault: Fault, drill_stack: LocalStack) -> None:
    outcome = drills.run_one(drill_stack, fault, SCALE)
    assert outcome["accepted"] == SCALE.jobs, outcome
    assert outcome["lost"] == 0, outcome
    assert outcome["recorded_twice"] == 0, outcome
