"""API keys: what a key may do, and the `api_keys` collection that holds them hashed.

A key is a random token shown once. The collection keeps only its SHA-256 as `_id`: tokens carry
256 bits of randomness, so a plain hash cannot be reversed and one indexed lookup finds the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.core import clock
from services.core.errors import InvalidRequest

log = logging.getLogger(__name__)
TOKEN_PREFIX = "sb_"
# A key an operator provides (SWITCHBOARD_ADMIN_KEY) must be at least this long to be guessed no
# more easily than a generated one could be brute-forced through the rate limits.
MIN_TOKEN_LENGTH = 24
ADMIN_KEY_FILE = "admin-key"


class Scope(StrEnum):
    JOBS_WRITE = "jobs:write"
    JOBS_READ = "jobs:read"
    TICKETS_WRITE = "tickets:write"
    TICKETS_AGENT = "tickets:agent"
    ADMIN = "admin"


class InvalidKeyRequest(InvalidRequest):
    """A key that cannot be made as asked: unknown scope, missing agent, short token."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[Scope]
    # Set for `tickets:agent` keys: the one agent this key acts as.
    agent_id: str | None
    created_at: datetime

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(raw: list[str]) -> frozenset[Scope]:
    known = {s.value for s in Scope}
    if not raw or any(s not in known for s in raw):
        raise InvalidKeyRequest("scopes", f"each must be one of {', '.join(sorted(known))}")
    return frozenset(Scope(s) for s in raw)


def to_api(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "agent_id": key.agent_id,
        "created_at": clock.iso(key.created_at),
    }


def _from_doc(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=doc["key_id"],
        name=doc["name"],
        scopes=frozenset(Scope(s) for s in doc["scopes"]),
        agent_id=doc.get("agent_id"),
        created_at=doc["created_at"],
    )


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.keys: Collection = db["api_keys"]

    def ensure_indexes(self) -> None:
        self.keys.create_index("key_id", unique=True)
        # Only one generated first admin key, however many replicas start at once.
        self.keys.create_index("first_admin", unique=True, sparse=True)

    def create(
        self,
        name: str,
        scopes: frozenset[Scope],
        agent_id: str | None = None,
        token: str | None = None,
        first_admin: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new key and its token; the token is not kept and cannot be shown again."""
        if (Scope.TICKETS_AGENT in scopes) != (agent_id is not None):
            raise InvalidKeyRequest("agent_id", "required with tickets:agent, and only with it")
        token = token or new_token()
        if len(token) < MIN_TOKEN_LENGTH:
            raise InvalidKeyRequest("key", f"must be at least {MIN_TOKEN_LENGTH} characters")
        doc: dict[str, Any] = {
            "_id": hash_token(token),
            "key_id": "key_" + str(ObjectId()),
            "name": name,
            "scopes": sorted(scopes),
            "agent_id": agent_id,
            "created_at": clock.now(),
        }
        if first_admin:
            doc["first_admin"] = True
        self.keys.insert_one(doc)
        return _from_doc(doc), token

    def find(self, token: str) -> ApiKey | None:
        doc = self.keys.find_one({"_id": hash_token(token)})
        return None if doc is None else _from_doc(doc)

    def all(self) -> list[ApiKey]:
        return [_from_doc(d) for d in self.keys.find().sort("key_id", 1)]

    def revoke(self, key_id: str) -> bool:
        """Delete the key: its token stops working once the replicas' caches let it go."""
        return self.keys.delete_one({"key_id": key_id}).deleted_count == 1

    def has_admin(self) -> bool:
        return self.keys.find_one({"scopes": Scope.ADMIN.value}, {"_id": 1}) is not None

    def ensure_admin(self, provided: str, data_dir: Path) -> str:
        """Make sure an admin key exists; say where it is. Safe for replicas starting at once.

        A provided token (SWITCHBOARD_ADMIN_KEY) becomes an admin key if it is not one already.
        Otherwise the first start generates one and writes it to a file only its owner can read.
        """
        admin = frozenset({Scope.ADMIN})
        if provided:
            if self.find(provided) is None:
                with contextlib.suppress(DuplicateKeyError):  # another replica stored it first
                    self.create("admin (SWITCHBOARD_ADMIN_KEY)", admin, token=provided)
            return "the admin key is SWITCHBOARD_ADMIN_KEY"
        path = data_dir / ADMIN_KEY_FILE
        if self.has_admin():
            return f"admin key: see {path}" if path.exists() else "an admin key exists already"
        try:
            _, token = self.create("admin (first start)", admin, first_admin=True)
        except DuplicateKeyError:
            return f"admin key: see {path}"
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        log.warning("created the first admin key; it is in %s", path)
        return f"admin key: created in {path}"
