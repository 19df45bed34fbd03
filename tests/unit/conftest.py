"""Unit tests run with no services: mongomock for MongoDB, Celery's in-memory broker."""

from __future__ import annotations

import os

# Before anything reads the settings: no real broker, and small limits to test against.
os.environ["BROKER_URL"] = "memory://"
os.environ["MAX_BODY_BYTES"] = "4096"

from collections.abc import Iterator

import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.core import db
from services.core.jobs import registry
from services.core.jobs.store import JobStore

registry.load()


@pytest.fixture
def mongo(monkeypatch: pytest.MonkeyPatch) -> mongomock.Database:
    database = mongomock.MongoClient(tz_aware=True)["switchboard_unit"]
    monkeypatch.setattr(db, "database", lambda: database)
    return database


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
