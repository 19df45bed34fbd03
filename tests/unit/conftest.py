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
from services.core.apikeys import KeyStore, Scope
from services.core.jobs import registry
from services.core.jobs.publisher import StubPublisher, default_publisher
from services.core.jobs.store import JobStore

registry.load()


@pytest.fixture
def mongo(monkeypatch: pytest.MonkeyPatch) -> mongomock.Database:
    database: mongomock.Database = mongomock.MongoClient(tz_aware=True)["switchboard_unit"]
    monkeypatch.setattr(db, "database", lambda: database)
    return database


@pytest.fixture(autouse=True)
def job_types() -> Iterator[None]:
    """Job types a test registers are gone after it, so no test depends on another's."""
    known = dict(registry._types)
    yield
    registry._types.clear()
    registry._types.update(known)


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


ClientFor = Callable[..., FlaskClient]


@pytest.fixture
def client_for(app: Flask, mongo: mongomock.Database) -> ClientFor:
    """A test client that sends a new key with these scopes (none: no key at all)."""

    def make(*scopes: Scope, agent_id: str | None = None) -> FlaskClient:
        c = app.test_client()
        if scopes:
            _, token = KeyStore(mongo).create("test", frozenset(scopes), agent_id)
            c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return c

    return make


@pytest.fixture
def client(client_for: ClientFor) -> Iterator[FlaskClient]:
    """A client with an admin key."""
    with client_for(Scope.ADMIN) as c:
        yield c
