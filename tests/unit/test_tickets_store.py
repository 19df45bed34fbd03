"""The ticket store's reads that pages and pulls rely on."""

from datetime import timedelta

import mongomock
import pytest

from services.core import clock
from services.core.tickets import assignment
from services.core.tickets.store import TicketStore
from tests.unit.test_tickets_assignment import add_agent, add_ticket
from tests.unit.ticket_worker import TicketWorker


@pytest.fixture
def store() -> TicketStore:
    s = TicketStore(mongomock.MongoClient(tz_aware=True)["test"])
    s.ensure_indexes()
    return s


def test_agents_are_listed_oldest_first_a_page_at_a_time_with_a_status_filter(store):
    ids = sorted(
        add_agent(store, f"a{i}", status="away" if i == 1 else "available") for i in range(4)
    )
    page, cursor = store.list_agents(None, 2, None)
    assert [a["_id"] for a in page] == ids[:2]
    assert cursor == ids[1]
    page, cursor = store.list_agents(None, 2, cursor)
    assert ([a["_id"] for a in page], cursor) == (ids[2:], None)
    page, cursor = store.list_agents("available", 10, None)
    assert ([a["_id"] for a in page], cursor) == ([ids[0], *ids[2:]], None)


def test_a_pull_drops_entries_whose_ticket_never_appeared_once_they_are_old(store):
    aid = add_agent(store, voice=1)
    now = clock.now()
    for name, minutes in (("orphan-old", 11), ("orphan-young", 5)):
        entry = {"_id": name, "channel": "voice", "skills": [], "priority": 9, "rank": 0}
        store.queue.insert_one({**entry, "created_at": now - timedelta(minutes=minutes)})
    tid = add_ticket(store)
    assert TicketWorker(store).pull(aid) == 1  # past both orphans, to the real ticket
    assert store.get_ticket(tid)["agent_id"] == aid
    assert [e["_id"] for e in store.queue_entries()] == ["orphan-young"]


def test_has_waiting_follows_the_queue(store):
    assert not store.has_waiting()
    tid = add_ticket(store)
    assert store.has_waiting()
    assignment.withdraw(store, tid)
    assert not store.has_waiting()
