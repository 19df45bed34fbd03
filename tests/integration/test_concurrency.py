"""Concurrency limits on the real stack: at most N of a type or of a key run at once, across
both worker processes, and jobs waiting on a limit hold up no other type.

The test stack (conftest.py TEST_ENV) allows one `nap` at a time (TYPE_CONCURRENCY=nap=1) and one
job per concurrency key (KEY_CONCURRENCY=1), and has two worker processes: without the limits,
two naps would run side by side. Whether two ran at once is read from the times each handler
reports (`tests/integration/jobtypes.py`), not from how long anything took.
"""

from __future__ import annotations

import itertools

import pytest

from tests.integration.client import Api, wait_for

pytestmark = pytest.mark.integration


def _spans(api: Api, ids: list[str]) -> list[tuple[float, float]]:
    done = [api.wait_status(job_id, "succeeded", "failed") for job_id in ids]
    assert [job["status"] for job in done] == ["succeeded"] * len(ids)
    return sorted((job["result"]["began"], job["result"]["ended"]) for job in done)


def _one_at_a_time(spans: list[tuple[float, float]]) -> bool:
    return all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_at_most_one_nap_runs_at_once(api: Api) -> None:
    ids = [api.submit("nap", {"seconds": 0.3})["id"] for _ in range(4)]
    assert _one_at_a_time(_spans(api, ids))
    # None of the waits counted as an attempt.
    assert [api.job(job_id)["attempts"] for job_id in ids] == [1] * 4


def test_another_type_is_not_held_up_by_jobs_waiting_on_a_limit(api: Api) -> None:
    naps = [api.submit("nap", {"seconds": 1})["id"] for _ in range(3)]
    echo = api.submit("echo", {"value": 1})
    assert api.wait_status(echo["id"], "succeeded")["result"] == 1
    # The echo ran while naps were still waiting their turn.
    assert any(api.job(job_id)["status"] != "succeeded" for job_id in naps)
    _spans(api, naps)


def test_a_concurrency_key_limits_its_own_jobs_only(api: Api) -> None:
    mine = [api.submit("doze", {"seconds": 0.3}, concurrency_key="acme")["id"] for _ in range(3)]
    other = api.submit("doze", {"seconds": 0.3}, concurrency_key="globex")["id"]
    assert _one_at_a_time(_spans(api, mine))
    assert _spans(api, [other])
    assert api.job(other)["concurrency_key"] == "globex"


def test_stats_and_dry_run_see_the_limits(api: Api) -> None:
    reply = api.post("/jobs/dry-run", {"type": "nap", "concurrency_key": "acme"})
    assert reply.status == 200
    limits = reply.json["jobs"][0]["limits"]
    assert [(x["scope"], x["name"], x["concurrency"]) for x in limits] == [
        ("type", "nap", 1),
        ("key", "acme", 1),
    ]

    def throttled() -> int | None:
        return api.get("/stats").json["jobs"]["by_status"].get("throttled") or None

    naps = [api.submit("nap", {"seconds": 1})["id"] for _ in range(3)]
    # Jobs waiting on a limit are counted while they wait.
    assert wait_for(throttled, timeout=30, what="a throttled job in /stats") >= 1
    _spans(api, naps)
