"""The MongoDB connection: one client per process, made after any fork."""

from __future__ import annotations

import os

from pymongo import MongoClient
from pymongo.database import Database

from services.core.config import settings

_client: MongoClient | None = None
_client_pid = 0


def client() -> MongoClient:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        s = settings()
        _client = MongoClient(
            s.mongo_url,
            tz_aware=True,
            serverSelectionTimeoutMS=s.mongo_timeout_ms,
            connectTimeoutMS=s.mongo_timeout_ms,
            socketTimeoutMS=max(s.mongo_timeout_ms * 5, 10_000),
        )
        _client_pid = os.getpid()
    return _client


def database() -> Database:
    return client()[settings().mongo_db]
