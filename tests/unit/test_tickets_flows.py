"""What the API's writes do in core: submit, close, add and change agents, and what they publish."""

from __future__ import annotations

from collections.abc import Callable

import mongomock
import pytest

from services.core.errors import BrokerUnavailable
from services.core.tickets import closing, dispatch, intake, roster, staffing
from services.core.tickets.requests import AgentPatch, AgentRequest, TicketRequest
from services.core.tickets.states import AgentStatus, Channel, TicketStatus
from services.core.tickets.store import TicketStore
from tests.unit.ticket_worker import TicketWorker

Sent = list[tuple[str, str, int]]


@pytest.fixture
def store() -> TicketStore:
    return TicketStore(mongomock.MongoClient(tz_aware=True)["test"])


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Sent:
    sent: Sent = []
    monkeypatch.setattr(dispatch, "_send", lambda task, arg, pri: sent.append((task, arg, pri)))
    return sent


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[str], None]], None]:
    """Make every publish fail, after `meanwhile(ticket_id)` has run."""

    def down(meanwhile: Callable[[str], None]) -> None:
        def refuse(_task: str, arg: str, _priority: int) -> None:
            meanwhile(arg)
            raise BrokerUnavailable("connection refused")

        monkeypatch.setattr(dispatch, "_send", refuse)

    return down


def agent_request(status: str = "available") -> AgentRequest:
    return AgentRequest.model_validate(
        {"name": "a", "channels": {"text": {"capacity": 1}}, "status": status}
    )


def add_agent(store: TicketStore) -> str:
    return str(roster.create(store, agent_request())["_id"])


def text_ticket(priority: int = 5) -> TicketRequest:
    return TicketRequest(channel=Channel.TEXT, priority=priority)


def test_a_ticket_is_recorded_waiting_then_its_assignment_published(store, published):
    doc = intake.submit(store, text_ticket(priority=7))
    assert store.get_ticket(doc["_id"]) == doc
    assert doc["status"] == "waiting"
    assert [e["_id"] for e in store.queue_entries()] == [doc["_id"]]
    assert published == [(dispatch.ASSIGN_TICKET, doc["_id"], 7)]


def test_a_failed_publish_withdraws_the_ticket_and_raises(store, broker_down):
    broker_down(lambda _ticket_id: None)
    with pytest.raises(BrokerUnavailable):
        intake.submit(store, text_ticket())
    assert [t["status"] for t in store.tickets.find({})] == ["cancelled"]
    assert store.queue_entries() == []


def test_a_ticket_assigned_before_its_publish_failed_is_accepted(store, broker_down):
    aid = add_agent(store)
    worker = TicketWorker(store)
    broker_down(worker.assign)  # a sweep matched it while the broker was refusing
    doc = intake.submit(store, text_ticket())
    assert (doc["status"], doc["agent_id"]) == ("assigned", aid)
    assert store.get_ticket(doc["_id"]) == doc


def test_ending_an_assigned_ticket_asks_its_agent_to_pull_when_tickets_wait(store, published):
    aid = add_agent(store)
    worker = TicketWorker(store)
    first = intake.submit(store, text_ticket())["_id"]
    worker.assign(first)
    waiting = intake.submit(store, text_ticket())["_id"]
    published.clear()
    done = closing.close(store, first, TicketStatus.COMPLETED)
    assert done is not None and done.released
    assert published == [(dispatch.AGENT_PULL, aid, dispatch.PULL_PRIORITY)]
    assert store.get_agent(aid)["free_text"] == 1
    assert store.get_ticket(waiting)["status"] == "waiting"


def test_no_pull_when_nothing_waits_or_no_capacity_came_back(store, published):
    add_agent(store)
    worker = TicketWorker(store)
    assigned = intake.submit(store, text_ticket())["_id"]
    worker.assign(assigned)
    waiting = intake.submit(store, text_ticket())["_id"]
    other = intake.submit(store, text_ticket())["_id"]
    published.clear()
    cancelled = closing.close(store, waiting, TicketStatus.CANCELLED)  # it held no capacity
    assert cancelled is not None and not cancelled.released
    assert closing.close(store, other, TicketStatus.COMPLETED) is None  # waiting: not allowed
    assert closing.close(store, other, TicketStatus.CANCELLED) is not None
    done = closing.close(store, assigned, TicketStatus.COMPLETED)  # nothing waits any more
    assert done is not None and done.released
    assert published == []


def test_an_agent_added_available_is_asked_to_pull_and_one_added_away_is_not(store, published):
    ready = staffing.enroll(store, agent_request())
    staffing.enroll(store, agent_request("away"))
    assert published == [(dispatch.AGENT_PULL, ready["_id"], dispatch.PULL_PRIORITY)]
    assert len(store.all_agents()) == 2


def test_an_agent_is_asked_to_pull_only_when_a_change_lets_it_take_more(store, published):
    aid = str(staffing.enroll(store, agent_request("away"))["_id"])
    renamed = staffing.update(store, aid, AgentPatch(name="Bea"))
    assert renamed is not None and renamed["name"] == "Bea"
    assert published == []
    back = staffing.update(store, aid, AgentPatch(status=AgentStatus.AVAILABLE))
    assert back is not None and back["status"] == "available"
    assert published == [(dispatch.AGENT_PULL, aid, dispatch.PULL_PRIORITY)]
    assert staffing.update(store, "nobody", AgentPatch(status=AgentStatus.AVAILABLE)) is None
    assert len(published) == 1
