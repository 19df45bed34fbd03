"""Schedules: their ticks, exactly one job per tick however many firers, and their API."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from croniter import croniter
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from services.core import clock
from services.core.jobs.store import JobStore
from services.core.jobs.submission import JobRequest, submit
from services.core.runtime import Runtime
from services.core.schedules import firing
from services.core.schedules.requests import CRON_PATTERN
from services.core.schedules.store import ScheduleStore
from services.core.schedules.timing import Timing

T0 = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def test_interval_ticks_fall_on_whole_intervals_from_the_anchor() -> None:
    every = Timing(every_seconds=60)
    assert every.next_after(T0, T0) == T0 + timedelta(seconds=60)
    assert every.next_after(T0 + timedelta(seconds=59), T0) == T0 + timedelta(seconds=60)
    # Long after: the next whole interval, not one per missed tick.
    assert every.next_after(T0 + timedelta(seconds=601), T0) == T0 + timedelta(seconds=660)


def test_cron_ticks_are_read_in_the_schedule_s_time_zone_across_dst() -> None:
    paris = Timing(cron="30 8 * * *", timezone="Europe/Paris")
    # 08:30 in Paris: 07:30 UTC in winter, 06:30 UTC once clocks go forward (29 March 2026).
    assert paris.next_after(T0, T0) == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)
    assert paris.next_after(datetime(2026, 3, 27, 12, tzinfo=UTC), T0) == datetime(
        2026, 3, 28, 7, 30, tzinfo=UTC
    )
    assert Timing(cron="0 0 31 2 *").next_after(T0, T0) is None  # never


_PATTERN = re.compile(CRON_PATTERN)


@given(st.from_regex(_PATTERN, fullmatch=True))
def test_every_expression_the_pattern_allows_is_one_croniter_takes(expression: str) -> None:
    assert croniter.is_valid(expression)


@pytest.fixture
def schedules(mongo: mongomock.Database) -> ScheduleStore:
    store = ScheduleStore(mongo)
    store.ensure_indexes()
    return store


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    moment = [T0]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


def _submitter(runtime: Runtime) -> firing.Submit:
    def submit_one(job: JobRequest, by: str | None, key: str, link: dict[str, Any]) -> Any:
        made, _ = submit(runtime.committer, job, 3, by, key, link)
        return made

    return submit_one


def _create(client: FlaskClient, **fields: Any) -> Any:
    body = {"name": "nightly", "every_seconds": 60, "job": {"type": "noop"}, **fields}
    reply = client.post("/schedules", json=body)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def test_a_tick_becomes_one_job_however_many_firers(
    client: FlaskClient, runtime: Runtime, schedules: ScheduleStore, now: list[datetime]
) -> None:
    _create(client)
    now[0] += timedelta(seconds=61)
    submit_one = _submitter(runtime)
    # Two firers that both read the schedule as due before either moved it on.
    due = schedules.due(now[0], 10)
    monkey_due = lambda *_a: [dict(d) for d in due]  # noqa: E731
    twin = ScheduleStore(schedules.schedules.database)
    twin.due = monkey_due  # type: ignore[method-assign]
    assert firing.fire_due(schedules, submit_one, now[0], False) == 1
    assert firing.fire_due(twin, submit_one, now[0], False) == 0
    jobs = list(JobStore(schedules.schedules.database).jobs.find({}))
    assert len(jobs) == 1
    assert jobs[0]["schedule"] == {"name": "nightly", "tick": T0 + timedelta(seconds=60)}
    shown = client.get("/schedules/nightly").get_json()
    assert shown["runs"] == 1 and shown["last_job_id"] == jobs[0]["_id"]
    assert shown["next_run_at"] == clock.iso(T0 + timedelta(seconds=120))


def test_a_firer_that_died_after_the_submit_is_repaired_by_the_next(
    client: FlaskClient, runtime: Runtime, schedules: ScheduleStore, now: list[datetime]
) -> None:
    _create(client)
    now[0] += timedelta(seconds=61)
    submit_one = _submitter(runtime)
    crashed = ScheduleStore(schedules.schedules.database)
    crashed.advance = lambda *_a: False  # type: ignore[method-assign]  # died before it
    firing.fire_due(crashed, submit_one, now[0], False)
    assert firing.fire_due(schedules, submit_one, now[0], False) == 1
    assert JobStore(schedules.schedules.database).jobs.count_documents({}) == 1


def test_ticks_missed_while_nothing_fired_are_fired_once(
    client: FlaskClient, runtime: Runtime, schedules: ScheduleStore, now: list[datetime]
) -> None:
    _create(client)
    now[0] += timedelta(hours=1)
    assert firing.fire_due(schedules, _submitter(runtime), now[0], False) == 1
    assert firing.fire_due(schedules, _submitter(runtime), now[0], False) == 0
    assert schedules.get("nightly")["next_run_at"] == now[0] + timedelta(seconds=60)


def test_paused_schedules_do_not_fire_and_resume_from_now(
    client: FlaskClient, runtime: Runtime, schedules: ScheduleStore, now: list[datetime]
) -> None:
    _create(client)
    paused = client.post("/schedules/nightly/pause").get_json()
    assert paused["paused"] is True and paused["next_run_at"] is None
    now[0] += timedelta(minutes=10)
    assert firing.fire_due(schedules, _submitter(runtime), now[0], False) == 0
    resumed = client.post("/schedules/nightly/resume").get_json()
    assert resumed["next_run_at"] == clock.iso(T0 + timedelta(seconds=660))
    assert [h["change"] for h in resumed["history"]] == ["created", "paused", "resumed"]


def test_a_change_moves_the_next_tick_and_is_in_the_history(
    client: FlaskClient, now: list[datetime]
) -> None:
    _create(client)
    changed = client.patch("/schedules/nightly", json={"cron": "0 9 * * *"}).get_json()
    assert changed["every_seconds"] is None and changed["cron"] == "0 9 * * *"
    assert changed["next_run_at"] == clock.iso(datetime(2026, 3, 29, 9, tzinfo=UTC))
    assert changed["history"][-1]["change"] == "changed cron"


def test_schedules_are_listed_by_name_read_and_deleted(client: FlaskClient) -> None:
    for name in ("b", "a", "c"):
        _create(client, name=name)
    first = client.get("/schedules?limit=2").get_json()
    assert [s["name"] for s in first["items"]] == ["a", "b"] and first["next"] == "b"
    rest = client.get(f"/schedules?cursor={first['next']}").get_json()
    assert [s["name"] for s in rest["items"]] == ["c"] and rest["next"] is None
    assert client.delete("/schedules/b").status_code == 204
    assert client.get("/schedules/b").status_code == 404
    assert client.delete("/schedules/b").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Nightly"}, "name"),
        ({"every_seconds": None, "cron": None}, "cron"),
        ({"cron": "0 9 * * *"}, "cron"),  # and every_seconds: both
        ({"every_seconds": 0.5}, "every_seconds"),
        ({"every_seconds": None, "cron": "61 * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"job": {"type": "nope"}}, "job.type"),
        ({"job": {"type": "noop", "delay_seconds": 5}}, "job.delay_seconds"),
        ({"job": {"type": "noop", "callback_url": "https://h.example/"}}, "job.callback_url"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_schedules_are_400_naming_the_field(
    client: FlaskClient, fields: dict[str, Any], field: str
) -> None:
    body = {"name": "nightly", "every_seconds": 60, "job": {"type": "noop"}, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    reply = client.post("/schedules", json=body)
    assert reply.status_code == 400 and reply.get_json()["field"] == field, reply.get_json()


def test_a_job_s_json_is_kept_exactly(client: FlaskClient) -> None:
    event = {"user_id": -(10**30), "event_type_id": 1, "event_data": {"a.b": [1.5, "x"]}}
    made = _create(client, job={"type": "event", "payload": event})
    assert made["job"]["payload"] == event
    assert client.get("/schedules/nightly").get_json()["job"]["payload"] == event


def test_a_name_is_taken_once(client: FlaskClient) -> None:
    _create(client)
    reply = client.post(
        "/schedules", json={"name": "nightly", "cron": "* * * * *", "job": {"type": "noop"}}
    )
    assert reply.status_code == 409
