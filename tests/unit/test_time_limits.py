"""Per-type time limits: how they are chosen, that they travel in the message, and what a
submit is refused for because of them."""

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from pydantic import BaseModel

from services.core import clock
from services.core.config import Settings, settings
from services.core.jobs import dispatch, lifecycle, limits
from services.core.jobs.limits import TimeLimits
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.registry import job_type
from services.core.jobs.store import JobStore, new_job


class Nothing(BaseModel):
    pass


@job_type("unit_declares_a_limit", Nothing, time_limit=20)
def declares(payload: Nothing, ctx: object) -> None:
    return None


BASE = Settings(job_time_limit=300, job_time_limit_max=3600, job_time_limit_grace=10)


@pytest.mark.parametrize(
    ("job_type", "config", "expected"),
    [
        ("noop", BASE, TimeLimits(300, 310)),  # declares none: the default
        ("unit_declares_a_limit", BASE, TimeLimits(20, 30)),  # its own
        ("not_registered", BASE, TimeLimits(300, 310)),
        # The operator's word wins over the type's, and the maximum over both.
        (
            "unit_declares_a_limit",
            BASE.model_copy(update={"job_time_limits": {"unit_declares_a_limit": 5}}),
            TimeLimits(5, 15),
        ),
        (
            "unit_declares_a_limit",
            BASE.model_copy(update={"job_time_limit_max": 8}),
            TimeLimits(8, 18),
        ),
        ("noop", BASE.model_copy(update={"job_time_limit": 9000}), TimeLimits(3600, 3610)),
    ],
)
def test_a_type_s_limits(job_type: str, config: Settings, expected: TimeLimits) -> None:
    assert limits.for_type(job_type, config) == expected


def test_limits_by_type_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_TIME_LIMITS", "sleep=60, word_count=2.5")
    assert Settings().job_time_limits == {"sleep": 60.0, "word_count": 2.5}


def test_each_message_carries_its_type_s_limits(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    client.post("/jobs", json={"type": "word_count", "payload": {"text": "a"}})
    client.post("/jobs/batch", json={"jobs": [{"type": "noop"}, {"type": "noop"}]})
    word_count = limits.for_type("word_count", settings())
    noop = limits.for_type("noop", settings())
    assert word_count != noop
    assert [m[2] for m in publisher.messages] == [word_count, noop, noop]


def test_a_sleep_longer_than_its_limit_is_refused_at_submit(client: FlaskClient) -> None:
    limit = limits.for_type("sleep", settings()).soft
    reply = client.post("/jobs", json={"type": "sleep", "payload": {"seconds": 3600}})
    assert reply.status_code == 400
    error = reply.get_json()
    assert error["field"] == "payload.seconds"
    assert error["error"].endswith(f"must be less than the sleep time limit of {limit:g} s")
    ok = client.post("/jobs", json={"type": "sleep", "payload": {"seconds": limit - 1}})
    assert ok.status_code == 202


def test_the_relay_republishes_with_the_type_s_limits(
    store: JobStore, publisher: StubPublisher
) -> None:
    stranded = new_job("word_count", {"text": "a"}, 5, 3)
    stranded["updated_at"] = clock.now() - timedelta(seconds=60)
    store.insert(stranded)
    assert dispatch.relay(store, store.due_for_dispatch(outbox_grace=5), publisher, Settings()) == 1
    assert publisher.messages == [(stranded["_id"], 5, limits.for_type("word_count", Settings()))]


def test_a_job_s_own_timeout_replaces_its_type_s_limit_within_the_maximum() -> None:
    assert limits.for_job("unit_declares_a_limit", 7.5, BASE) == TimeLimits(7.5, 17.5)
    assert limits.for_job("unit_declares_a_limit", None, BASE) == TimeLimits(20, 30)
    assert limits.for_job("noop", 86400, BASE) == TimeLimits(3600, 3610)
    assert limits.of({"type": "noop", "timeout_seconds": 2}, BASE) == TimeLimits(2, 12)


def test_a_submitted_timeout_travels_in_the_message_and_is_shown(
    client: FlaskClient, publisher: StubPublisher
) -> None:
    reply = client.post("/jobs", json={"type": "noop", "timeout_seconds": 4})
    assert reply.status_code == 202 and reply.get_json()["timeout_seconds"] == 4
    client.post("/jobs/batch", json={"jobs": [{"type": "noop", "timeout_seconds": 1.5}]})
    grace = settings().job_time_limit_grace
    assert [m[2] for m in publisher.messages] == [(4, 4 + grace), (1.5, 1.5 + grace)]


@pytest.mark.parametrize("timeout", [0, -1, "5", True, 86401, None])
def test_a_timeout_out_of_bounds_is_refused(client: FlaskClient, timeout: object) -> None:
    reply = client.post("/jobs", json={"type": "noop", "timeout_seconds": timeout})
    if timeout is None:
        # Null is the same as leaving it out.
        assert reply.status_code == 202
        return
    assert reply.status_code == 400 and reply.get_json()["field"] == "timeout_seconds"


def test_a_retry_is_republished_with_the_job_s_own_timeout(
    store: JobStore, publisher: StubPublisher
) -> None:
    due = new_job("word_count", {"text": "a"}, 5, 3)
    due.update({"status": "retrying", "retry_at": clock.now(), "timeout_seconds": 3})
    store.insert(due)
    assert dispatch.relay(store, store.due_for_dispatch(outbox_grace=5), publisher, BASE) == 1
    assert publisher.messages == [(due["_id"], 5, TimeLimits(3, 13))]


def test_a_job_killed_at_its_own_hard_limit_says_so(store: JobStore) -> None:
    doc = new_job("noop", {}, 5, 1)
    doc["timeout_seconds"] = 1.5
    store.insert(doc)
    store.claim(doc["_id"], "run-1", "host:7", take_over=False)
    assert lifecycle.abandon(doc["_id"], store, BASE, "host:7") is lifecycle.Outcome.FAILED
    error = store.get(doc["_id"])["error"]  # type: ignore[index]
    assert error == "time limit exceeded: the attempt was stopped at its hard limit of 11.5 s"
