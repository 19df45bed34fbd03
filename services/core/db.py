"""The MongoDB connection, and the stores on it: one of each per process, made after any fork."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pymongo import MongoClient
from pymongo.database import Database

from services.core.config import settings
from services.core.process import per_process


def _connect() -> MongoClient:
    s = settings()
    return MongoClient(
        s.mongo_url,
        tz_aware=True,
        serverSelectionTimeoutMS=s.mongo_timeout_ms,
        connectTimeoutMS=s.mongo_timeout_ms,
        socketTimeoutMS=max(s.mongo_timeout_ms * 5, 10_000),
    )


client = per_process(_connect)
_database = per_process(lambda: client()[settings().mongo_db])


def database() -> Database:
    return _database()


class Store(Protocol):
    def ensure_indexes(self) -> None: ...


S = TypeVar("S", bound=Store)
# Keyed by the database's id; the database is kept beside its store, so no other can take its id.
_stores: Callable[[], dict[tuple[int, Any], tuple[Database, Any]]] = per_process(dict)


def store_on(db: Database, kind: Callable[[Database], S]) -> S:
    """This process's store of `kind` on `db`, its indexes made when it is first made: stores
    are asked for on every request and every job, and are not remade each time."""
    made = _stores()
    entry = made.get((id(db), kind))
    if entry is None:
        store = kind(db)
        store.ensure_indexes()
        entry = made[(id(db), kind)] = (db, store)
    store_: S = entry[1]
    return store_
