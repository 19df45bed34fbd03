from datetime import timedelta

import mongomock
import pytest

from services.core import clock, queues
from services.core.celery_app import app, configuration, maintenance_intervals
from services.core.config import Settings, settings
from services.core.maintenance import Maintenance, lease_seconds


@pytest.fixture
def maintenance(mongo: mongomock.Database) -> Maintenance:
    return Maintenance(mongo)


def test_a_task_runs_single_flight(maintenance: Maintenance) -> None:
    holder = maintenance.acquire("sweep", 1.0)
    assert holder is not None
    # A tick that arrives while a run is going on is dropped, not queued behind it.
    assert maintenance.run("sweep", 1.0, lambda: "ran") is None
    assert maintenance.acquire("sweep", 1.0) is None
    maintenance.release("sweep", holder, 0.5)
    assert maintenance.run("sweep", 1.0, lambda: "ran") == "ran"


def test_a_dead_holders_lease_is_taken_over_once_it_expires(maintenance: Maintenance) -> None:
    assert maintenance.acquire("sweep", 1.0) is not None
    expired = clock.now() - timedelta(seconds=1)
    maintenance.tasks.update_one({"_id": "sweep"}, {"$set": {"lease_until": expired}})
    assert maintenance.acquire("sweep", 1.0) is not None


def test_only_the_holder_releases(maintenance: Maintenance) -> None:
    holder = maintenance.acquire("sweep", 1.0)
    assert holder is not None
    maintenance.release("sweep", "someone-else", 0.1)
    assert maintenance.acquire("sweep", 1.0) is None


def test_runs_and_their_durations_are_recorded(maintenance: Maintenance) -> None:
    for seconds in (0.2, 0.7, 0.1):
        holder = maintenance.acquire("relay", 2.0)
        assert holder is not None
        maintenance.release("relay", holder, seconds)
    (row,) = maintenance.report()
    assert row["_id"] == "relay" and row["interval"] == 2.0 and row["runs"] == 3
    assert row["total_seconds"] == pytest.approx(1.0)
    assert row["max_seconds"] == 0.7 and row["last_seconds"] == 0.1


def test_a_failing_run_still_gives_the_lease_back(maintenance: Maintenance) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        maintenance.run("sweep", 1.0, broken)
    assert maintenance.run("sweep", 1.0, lambda: "ran") == "ran"


def test_a_lease_outlives_an_interval_but_not_by_much() -> None:
    assert lease_seconds(1.0) == 5.0
    assert lease_seconds(10.0) == 30.0


def test_beat_sends_every_maintenance_task_to_the_maintenance_queue_only() -> None:
    schedule = app.conf.beat_schedule
    tasks = {entry["task"] for entry in schedule.values()}
    assert tasks == {f"switchboard.{name}" for name in maintenance_intervals(settings())}
    for entry in schedule.values():
        assert entry["options"]["queue"] == queues.MAINTENANCE
        # A tick that could not start within its interval is dropped rather than run late.
        assert entry["options"]["expires"] == entry["schedule"].total_seconds()


def test_workers_send_task_events_as_the_settings_say() -> None:
    # On by default for Flower's task list; WORKER_TASK_EVENTS=false turns them off.
    assert configuration(Settings())["worker_send_task_events"] is True
    assert configuration(Settings(worker_task_events=False))["worker_send_task_events"] is False
