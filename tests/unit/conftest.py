"""Unit tests run with no services: mongomock, Celery's in-memory broker, a stub publisher."""

from __future__ import annotations

import os

# Before anything reads the settings: no real broker, and small limits to test against.
os.environ["BROKER_URL"] = "memory://"
os.environ["MAX_BODY_BYTES"] = "4096"

from collections.abc import Callable, Iterator

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.errors import ServerSelectionTimeoutError

from services.core import db
from services.core.jobs import registry
from services.core.jobs.publisher import StubPublisher, default_publisher
from services.core.jobs.store import JobStore

registry.load()


@pytest.fixture
def mongo(monkeypatch: pytest.MonkeyPatch) -> mongomock.Database:
    database = mongomock.MongoClient(tz_aware=True)["switchboard_unit"]
    monkeypatch.setattr(db, "database", lambda: database)
    return database


@pytest.fixture(autouse=True)
def publisher() -> StubPublisher:
    """The process's publisher (the stub, with the in-memory broker), emptied for each test."""
    stub = default_publisher()
    assert isinstance(stub, StubPublisher)
    stub.reset()
    return stub


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make a JobStore method fail as every one does when MongoDB cannot be reached."""

    def down(method: str) -> None:
        def unreachable(*_a: object, **_k: object) -> None:
            raise ServerSelectionTimeoutError("no servers")

        monkeypatch.setattr(JobStore, method, unreachable)

    return down


@pytest.fixture
def store(mongo: mongomock.Database) -> JobStore:
    return JobStore(mongo)


@pytest.fixture
def app(mongo: mongomock.Database) -> Flask:
    from services.web.app import create_app

    return create_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c
