"""The API against its own OpenAPI description: Schemathesis on the live stack, through Nginx.

Every operation is fuzzed (examples, coverage, then random positive and negative data) with every
check on, and the links of the description chain calls statefully (submit, read, cancel, retry...).
Bounded in examples so that it adds about a minute to the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from services.core.schedules.requests import MAX_EVERY_SECONDS
from tests.integration.client import Api
from tools.localstack.stack import LocalStack

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 50
STATEFUL_SCENARIOS = 60
# A closed port on loopback: a word count of it fails at once, and nothing leaves the machine.
UNREACHABLE_URL = "http://127.0.0.1:9/"
LONGEST_SLEEP = 0.2

TOO_LARGE = ("413", "414")
# Schemathesis's defaults for what valid data may get and what invalid data must get.
ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")
REJECTED = ("400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx")


def _tame_job(job: Any) -> None:
    """No fetch leaves the machine and no sleep holds a worker: the stack is shared by the suite."""
    if not isinstance(job, dict):
        return
    if _is_http_url(job.get("callback_url")):
        job["callback_url"] = UNREACHABLE_URL
    if job.get("type") == "hang":
        # Would hold a worker until its time limit: the limit tests have their own.
        job["type"], job["payload"] = "noop", {}
    if not isinstance(payload := job.get("payload"), dict):
        return
    if job.get("type") == "word_count" and _is_http_url(payload.get("url")):
        payload["url"] = UNREACHABLE_URL
    seconds = payload.get("seconds")
    if job.get("type") == "sleep" and isinstance(seconds, int | float) and 0 <= seconds <= 3600:
        payload["seconds"] = min(seconds, LONGEST_SLEEP)


def _tame_schedule(schedule: dict[str, Any]) -> None:
    """A tick a year away: what the fuzzer schedules never fires while the suite runs."""
    if isinstance(schedule.get("cron"), str):
        schedule["cron"] = "0 0 1 1 *"
    if isinstance(schedule.get("every_seconds"), int | float):
        schedule["every_seconds"] = MAX_EVERY_SECONDS
    _tame_job(schedule.get("job"))


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    if case.path == "/jobs":
        _tame_job(body)
    elif case.path == "/jobs/batch" and isinstance(jobs := body.get("jobs"), list):
        for job in jobs:
            _tame_job(job)
    elif case.path == "/word-count" and _is_http_url(body.get("url")):
        body["url"] = UNREACHABLE_URL
    elif case.path.startswith("/schedules"):
        _tame_schedule(body)


@pytest.fixture(scope="module")
def contract(stack: LocalStack, auth_headers: dict[str, str], api: Api) -> Iterator[OpenApiSchema]:
    # A body or URL over the size limits is refused with 413 or 414, valid or not: the limits
    # (MAX_BODY_BYTES, Nginx's URL buffers) are documented, but JSON Schema cannot express them.
    checks: dict[str, dict[str, Any]] = {
        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, *TOO_LARGE]},
        "negative_data_rejection": {"expected-statuses": [*REJECTED, *TOO_LARGE]},
    }
    config = schemathesis.Config.from_dict(
        {
            "headers": auth_headers,
            "checks": checks,
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "with-security-parameters": True,
            },
            "suppress-health-check": ["too_slow", "filter_too_much"],
            # A stateful step sends the fixture's key over whatever key the check put in, so the
            # check would see its "invalid" key accepted; each operation's own test covers it.
            "phases": {"stateful": {"checks": {"ignored_auth": {"enabled": False}}}},
        }
    )
    url = stack.config.base_url + "/openapi.json"
    yield schemathesis.openapi.from_url(url, config=config, headers=auth_headers)
    _release_what_it_made(api, auth_headers)


def _release_what_it_made(api: Api, headers: dict[str, str]) -> None:
    """Agents go offline and open tickets are cancelled, so later tests meet neither."""
    for agent in _all(api, "/agents", headers):
        if agent["status"] != "offline":
            api.call("PATCH", f"/agents/{agent['id']}", {"status": "offline"}, headers=headers)
    for schedule in _all(api, "/schedules", headers):
        api.call("DELETE", f"/schedules/{schedule['name']}", headers=headers)
    for status in ("waiting", "assigned"):
        for ticket in _all(api, f"/tickets?status={status}", headers):
            api.call("POST", f"/tickets/{ticket['id']}/cancel", headers=headers)


def _all(api: Api, path: str, headers: dict[str, str]) -> Iterator[dict[str, Any]]:
    cursor = None
    joiner = "&" if "?" in path else "?"
    while True:
        page = api.call(
            "GET", path + (f"{joiner}cursor={cursor}" if cursor else ""), headers=headers
        )
        assert page.status == 200, page.text
        yield from page.json["items"]
        if not (cursor := page.json["next"]):
            return


schema = schemathesis.pytest.from_fixture("contract")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # Schemathesis 4.32 names each operation's subtest through `_nodeid`, which pytest 9.2 dropped.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@hypothesis.settings(deadline=None, max_examples=EXAMPLES_PER_OPERATION, database=None)
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, auth_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=auth_headers)


def test_linked_calls_keep_the_contract(contract: OpenApiSchema) -> None:
    assert contract.statistic.transitions.total > 0, "no links: no call would be chained"
    failures: list[Exception] = []

    steps: list[int] = []

    class Recording(contract.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            steps.append(1)
            try:
                return super().step(input)
            except Exception as failure:
                failures.append(failure)
                raise

    # No shrinking: a scenario replayed meets a stack that has moved on. Hypothesis still replays
    # the failing one once, and may then report flaky generation: the first failure is the news.
    try:
        Recording.run(
            settings=hypothesis.settings(
                deadline=None,
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=6,
                database=None,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
        )
    except hypothesis.errors.FlakyStrategyDefinition:
        # Replayed, a scenario meets a stack that has moved on, and its links offer other data:
        # Hypothesis calls that flaky. Not a finding about the API; a failed step would be.
        if failures:
            raise failures[0] from None
        assert steps, "no linked call ran"
    except Exception:
        if failures:
            raise failures[0] from None
        raise
