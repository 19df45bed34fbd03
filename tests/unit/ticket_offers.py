"""What the offer and escalation tests share: a stopped clock, a store, agents that answer."""

from __future__ import annotations

from datetime import datetime, timedelta

import mongomock
import pytest

from services.core import clock
from services.core.tickets import roster
from services.core.tickets.offers import OfferPolicy
from services.core.tickets.requests import AgentRequest
from services.core.tickets.store import TicketStore


class Clock:
    """`clock.now` that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=clock.UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    stopped = Clock()
    monkeypatch.setattr(clock, "now", stopped)
    return stopped


def mongomock_store(policy: OfferPolicy | None = None) -> TicketStore:
    db: mongomock.Database = mongomock.MongoClient(tz_aware=True)["test"]
    store = TicketStore(db, offers=policy)
    store.ensure_indexes()
    return store


def add_agent(
    store: TicketStore,
    auto_accept: bool,
    skills: tuple[str, ...] | list[str] = (),
    name: str = "a",
    idle_ago: float = 0,
) -> str:
    body = {
        "name": name,
        "skills": list(skills),
        "channels": {"voice": {"capacity": 1}},
        "auto_accept": auto_accept,
    }
    doc = roster.create(store, AgentRequest.model_validate(body))
    if idle_ago:
        at = clock.now() - timedelta(seconds=idle_ago)
        store.agents.update_one({"_id": doc["_id"]}, {"$set": {"last_freed_at": at}})
    return doc["_id"]
