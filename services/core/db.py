"""The MongoDB connection a process's settings describe."""

from __future__ import annotations

from pymongo import MongoClient
from pymongo.database import Database

from services.core.config import Settings


def connect(s: Settings) -> Database:
    """The configured database, on a client of its own: one per process, made after any fork."""
    client: MongoClient = MongoClient(
        s.mongo_url,
        tz_aware=True,
        serverSelectionTimeoutMS=s.mongo_timeout_ms,
        connectTimeoutMS=s.mongo_timeout_ms,
        socketTimeoutMS=max(s.mongo_timeout_ms * 5, 10_000),
    )
    return client[s.mongo_db]
