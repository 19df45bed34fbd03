"""Answering offers over HTTP on mongomock: who may answer, what each answer publishes, 409s."""

import pytest

from services.core.apikeys import Scope
from services.core.tickets import dispatch
from tests.unit.ticket_worker import TicketWorker

AGENT = {"name": "Ada", "channels": {"voice": {"capacity": 1}}, "auto_accept": False}


@pytest.fixture
def admin(published, client_for):
    return client_for(Scope.ADMIN)


@pytest.fixture
def offered(admin, runtime):
    """An agent who answers offers, and a ticket on offer to it."""
    agent = admin.post("/agents", json=AGENT).json
    ticket = admin.post("/tickets", json={"channel": "voice"}).json
    TicketWorker(runtime.tickets).assign(ticket["id"])
    assert admin.get(f"/tickets/{ticket['id']}").json["status"] == "reserved"
    return agent, ticket


def test_auto_accept_is_shown_set_and_validated(admin):
    created = admin.post("/agents", json={**AGENT, "auto_accept": True}).json
    assert created["auto_accept"] is True and created["missed_offers"] == 0
    url = f"/agents/{created['id']}"
    assert admin.patch(url, json={"auto_accept": False}).json["auto_accept"] is False
    bad = admin.patch(url, json={"auto_accept": "yes"})
    assert bad.status_code == 400 and bad.json["field"] == "auto_accept"
    default = admin.post("/agents", json={"name": "B", "channels": {"voice": {"capacity": 1}}})
    assert default.json["auto_accept"] is True


def test_the_agent_accepts_with_its_own_key(offered, client_for, admin):
    agent, ticket = offered
    own = client_for(Scope.TICKETS_AGENT, agent_id=agent["id"])
    stranger = client_for(Scope.TICKETS_AGENT, agent_id="f" * 24)
    assert stranger.post(f"/tickets/{ticket['id']}/accept").status_code == 403
    writer = client_for(Scope.TICKETS_WRITE)  # not an agent: answering needs tickets:agent
    assert writer.post(f"/tickets/{ticket['id']}/accept").status_code == 403
    reply = own.post(f"/tickets/{ticket['id']}/accept")
    assert reply.status_code == 200
    assert reply.json["status"] == "assigned"
    assert [e["event"] for e in reply.json["timeline"]] == ["offered", "accepted"]
    again = own.post(f"/tickets/{ticket['id']}/reject")
    assert again.status_code == 409
    assert again.json["ticket"]["status"] == "assigned"


def test_a_rejection_asks_for_a_new_match_and_a_pull(offered, client_for, published):
    agent, ticket = offered
    own = client_for(Scope.TICKETS_AGENT, agent_id=agent["id"])
    published.clear()
    reply = own.post(f"/tickets/{ticket['id']}/reject")
    assert reply.status_code == 200
    assert reply.json["status"] == "waiting" and reply.json["agent_id"] is None
    assert published == [
        (dispatch.ASSIGN_TICKET, ticket["id"]),
        (dispatch.AGENT_PULL, agent["id"]),
    ]
    # The ticket is no longer this agent's: a second answer is refused.
    assert own.post(f"/tickets/{ticket['id']}/reject").status_code == 403


def test_answers_to_unknown_tickets_are_404(admin):
    assert admin.post("/tickets/0123456789abcdef01234567/accept").status_code == 404
    assert admin.post("/tickets/0123456789abcdef01234567/reject").status_code == 404
