import random
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from services.core import recent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _id_at(t: datetime, rng: random.Random) -> str:
    return f"{int(t.timestamp()):08x}{rng.getrandbits(64):016x}"


@pytest.fixture
def history(mongo: mongomock.Database) -> mongomock.Collection:
    """600 jobs over 90 days, a burst of 200 in one minute among them; one in ten failed."""
    rng = random.Random(3)
    times = [NOW - timedelta(days=rng.uniform(0, 90)) for _ in range(400)]
    burst = NOW - timedelta(days=10)
    times += [burst + timedelta(seconds=rng.uniform(0, 60)) for _ in range(200)]
    docs = [
        {"_id": _id_at(t, rng), "status": "failed" if rng.random() < 0.1 else "succeeded"}
        for t in times
    ]
    mongo.jobs.insert_many(docs)
    return mongo.jobs


def _walk(jobs: mongomock.Collection, equal: dict[str, str], limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        docs, cursor = recent.page(jobs, equal, limit, cursor, NOW)
        assert len(docs) <= limit
        seen += [d["_id"] for d in docs]
        if cursor is None:
            return seen
    raise AssertionError("the walk never ended")


@pytest.mark.parametrize("limit", [3, 50])
def test_pages_walk_every_match_newest_first_once(history, limit: int) -> None:
    failed = sorted((d["_id"] for d in history.find({"status": "failed"})), reverse=True)
    assert _walk(history, {"status": "failed"}, limit) == failed
    everything = sorted((d["_id"] for d in history.find({})), reverse=True)
    assert _walk(history, {}, limit) == everything


def test_a_page_reads_at_most_its_budget_and_says_where_to_go_on(history, monkeypatch) -> None:
    monkeypatch.setattr(recent, "SCAN_BUDGET", 40)
    reads: list[int] = []
    real_find = history.find

    def counting_find(*args, **kwargs):
        rows = list(real_find(*args, **kwargs))
        if "$gte" in str(args[0]):
            reads.append(len(rows))
        return rows

    monkeypatch.setattr(history, "find", counting_find)
    docs, cursor = recent.page(history, {"status": "nonexistent"}, 10, None, NOW)
    assert docs == [] and cursor is not None
    # One window may overshoot the budget (the burst), but the page stops right after it.
    assert sum(reads[:-1]) < 40
    failed = sorted((d["_id"] for d in real_find({"status": "failed"})), reverse=True)
    assert _walk(history, {"status": "failed"}, 10) == failed
