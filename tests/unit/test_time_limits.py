"""Per-type time limits: how they are chosen, that they travel in the message, and what a
submit is refused for because of them."""

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from pydantic import BaseModel

from services.core import clock
from services.core.config import Settings, settings
from services.core.jobs import dispatch, limits
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
