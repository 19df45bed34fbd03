"""Job retention on the real MongoDB-wire server: the TTL index, and a changed retention."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from services.core.jobs.store import EXPIRY_INDEX, JobStore
from tools.localstack.stack import LocalStack


@pytest.fixture
def scratch(stack: LocalStack) -> Iterator[Database]:
    """A database of its own on the stack's server, so the stack's jobs are untouched."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.config.mongo_url, tz_aware=True)
    client.drop_database("retention_test")
    yield client["retention_test"]
    client.drop_database("retention_test")
    client.close()


def _expiry(store: JobStore) -> Mapping[str, Any] | None:
    return next((i for i in store.jobs.list_indexes() if i["name"] == EXPIRY_INDEX), None)


def test_retention_is_a_ttl_index_that_follows_the_setting(scratch: Database) -> None:
    store = JobStore(scratch)
    store.ensure_retention(3600)
    index = _expiry(store)
    assert index is not None and index["expireAfterSeconds"] == 3600
    assert dict(index["key"]) == {"expires_at": 1}
    # Failed jobs are the dead letters: they carry no `expires_at` (tests/unit/test_retention.py).
    assert "partialFilterExpression" not in index
    store.ensure_retention(60)
    assert _expiry(store)["expireAfterSeconds"] == 60  # type: ignore[index]
    store.ensure_retention(0)
    assert _expiry(store) is None
