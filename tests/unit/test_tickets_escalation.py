"""Escalation: the rules' format, and the sweep widening tickets that waited too long."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.core.config import Settings
from services.core.tickets import assignment, escalation
from services.core.tickets.escalation import Widening
from services.core.tickets.states import TicketStatus
from services.core.tickets.store import TicketStore, new_ticket
from tests.unit.ticket_offers import Clock, add_agent, mongomock_store, stopped_clock
from tests.unit.ticket_worker import TicketWorker

GRACE = 10.0
TEXT = "billing+fr=30:billing,billing=60:support,vip=20"
RULE_SET = escalation.parse(TEXT)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stopped_clock(monkeypatch)


@pytest.fixture
def store(now: Clock) -> TicketStore:
    return mongomock_store()


def add_ticket(store: TicketStore, skills: list[str]) -> str:
    doc = new_ticket("voice", skills, 5, None)
    store.insert_ticket(doc)
    return doc["_id"]


def test_the_format_names_skill_sets_seconds_and_fallbacks() -> None:
    expected = {
        "billing+fr": Widening(30.0, ("billing",)),
        "billing": Widening(60.0, ("support",)),
        "vip": Widening(20.0, ()),
    }
    assert escalation.parse(TEXT) == expected
    # The set's skills in any order, spaces around them ignored.
    assert escalation.parse(" fr + billing = 5 : x ,") == {"billing+fr": Widening(5.0, ("x",))}
    assert Settings(ticket_escalation="vip=20").ticket_escalation == {"vip": Widening(20.0, ())}
    assert Settings().ticket_escalation == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("billing", "expected skills=seconds"),
        ("=5:x", "expected skills=seconds"),
        ("billing=soon", "is not seconds"),
        ("billing=0", "must be > 0"),
        ("billing=5:billing+fr", "must not include"),
        ("a=5:b,b=5:a", "loop"),
        ("a=5,a=6", "given twice"),
    ],
)
def test_a_bad_rule_stops_the_settings_with_a_clear_message(text: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(ticket_escalation=text)


def test_a_ticket_that_waited_past_its_threshold_takes_the_fallback(store, now) -> None:
    ticket = add_ticket(store, ["billing"])
    support = add_agent(store, auto_accept=True, skills=["support"])
    now.advance(59)
    report = assignment.sweep(store, GRACE, escalation=RULE_SET)
    assert report.widened == 0 and report.assigned == 0
    assert store.get_ticket(ticket)["skills"] == ["billing"]
    now.advance(2)
    report = assignment.sweep(store, GRACE, escalation=RULE_SET)
    assert report.widened == 1 and report.assigned == 1
    doc = store.get_ticket(ticket)
    assert doc["skills"] == ["support"] and doc["preferred_skills"] == ["billing"]
    assert doc["status"] == TicketStatus.ASSIGNED and doc["agent_id"] == support
    assert [(e["event"], e["skills"]) for e in doc["timeline"]] == [
        ("widened", ["support"]),
        ("assigned", None),
    ]


def test_rules_chain_and_the_first_skills_stay_preferred(store, now) -> None:
    ticket = add_ticket(store, ["billing", "fr"])
    now.advance(31)
    assert assignment.sweep(store, GRACE, escalation=RULE_SET).widened == 1
    assert store.get_ticket(ticket)["skills"] == ["billing"]
    assert store.queue.find_one({"_id": ticket})["skills"] == ["billing"]
    assert assignment.sweep(store, GRACE, escalation=RULE_SET).widened == 0
    now.advance(30)
    assert assignment.sweep(store, GRACE, escalation=RULE_SET).widened == 1
    doc = store.get_ticket(ticket)
    assert doc["skills"] == ["support"] and doc["preferred_skills"] == ["billing", "fr"]
    assert [e["skills"] for e in doc["timeline"]] == [["billing"], ["support"]]


def test_required_skills_can_become_preferred_only(store, now) -> None:
    ticket = add_ticket(store, ["vip"])
    now.advance(21)
    assignment.sweep(store, GRACE, escalation=RULE_SET)
    doc = store.get_ticket(ticket)
    assert doc["skills"] == [] and doc["preferred_skills"] == ["vip"]
    # Anyone may take it now, and an agent with the preferred skill comes first.
    plain = add_agent(store, auto_accept=True, name="plain", idle_ago=100)
    vip = add_agent(store, auto_accept=True, skills=["vip"], name="vip")
    assert TicketWorker(store).assign(ticket).value == "assigned"
    assert store.get_ticket(ticket)["agent_id"] == vip
    assert store.get_agent(plain)["holds"] == []


def test_no_rules_no_widening(store, now) -> None:
    ticket = add_ticket(store, ["billing"])
    now.advance(3600)
    assert assignment.sweep(store, GRACE).widened == 0
    assert store.get_ticket(ticket)["skills"] == ["billing"]


def test_an_entry_left_narrower_than_its_ticket_is_brought_in_line(store, now) -> None:
    ticket = add_ticket(store, ["billing"])
    now.advance(61)
    store.widen(store.get_ticket(ticket), ["support"])  # …and the entry's update never happened
    assert store.queue.find_one({"_id": ticket})["skills"] == ["billing"]
    assert assignment.sweep(store, GRACE, escalation=RULE_SET).widened == 0
    assert store.queue.find_one({"_id": ticket})["skills"] == ["support"]
    assert [e["event"] for e in store.get_ticket(ticket)["timeline"]] == ["widened"]


def test_due_measures_the_wait_from_creation(now) -> None:
    entry = {"skills": ["billing"], "created_at": now.now - timedelta(seconds=60)}
    assert escalation.due(RULE_SET, entry, now.now) == Widening(60.0, ("support",))
    entry["created_at"] += timedelta(seconds=1)
    assert escalation.due(RULE_SET, entry, now.now) is None
    assert escalation.due(RULE_SET, {**entry, "skills": ["other"]}, now.now + timedelta(1)) is None
