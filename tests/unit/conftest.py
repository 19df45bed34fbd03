"""Unit tests run with no services: mongomock, Celery's in-memory broker, a stub publisher,
all handed to the code under test through a `Runtime` (nothing read from the environment)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.errors import ServerSelectionTimeoutError

from services.core import celery_app
from services.core.apikeys import KeyStore, Scope
from services.core.config import Settings
from services.core.jobs import registry
from services.core.jobs.publisher import StubPublisher
from services.core.jobs.store import JobStore
from services.core.runtime import Runtime, use
from services.core.tickets import dispatch as ticket_dispatch

registry.load()


@pytest.fixture(autouse=True, scope="session")
def in_memory_broker() -> None:
    """Whatever a unit test sends through Celery stays in memory."""
    celery_app.app.conf.broker_url = "memory://"


@pytest.fixture
def mongo() -> mongomock.Database:
    database: mongomock.Database = mongomock.MongoClient(tz_aware=True)["switchboard_unit"]
    return database


@pytest.fixture
def config() -> Settings:
    """The settings of the app under test: small limits to test against."""
    return Settings(max_body_bytes=4096)


@pytest.fixture
def runtime(config: Settings, mongo: mongomock.Database, publisher: StubPublisher) -> Runtime:
    return Runtime(config, database=mongo, publisher=publisher)


@pytest.fixture(autouse=True)
def tasks_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Celery tasks run eagerly by a test work on the test's runtime."""
    with use(runtime):
        yield runtime


@pytest.fixture(autouse=True)
def job_types() -> Iterator[None]:
    """Job types a test registers are gone after it, so no test depends on another's."""
    known = dict(registry._types)
    yield
    registry._types.clear()
    registry._types.update(known)


@pytest.fixture
def publisher() -> StubPublisher:
    return StubPublisher()


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
def app(runtime: Runtime) -> Flask:
    from services.web.app import create_app

    return create_app(runtime=runtime)


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


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The ticket tasks published, as (task, argument), instead of sent to a broker."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        ticket_dispatch, "_send", lambda task, arg, priority: sent.append((task, arg))
    )
    return sent
