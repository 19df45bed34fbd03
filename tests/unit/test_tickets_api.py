"""The agents and tickets HTTP API on mongomock: validation, status codes, what gets published."""

import pytest

from services.core.apikeys import Scope
from services.core.errors import BrokerUnavailable
from services.core.tickets import dispatch
from services.core.tickets.assignment import Assigned
from tests.unit.ticket_worker import TicketWorker


@pytest.fixture
def store(runtime):
    return runtime.tickets


@pytest.fixture
def client(store, published, client_for):
    return client_for(Scope.ADMIN)


AGENT = {
    "name": "Ada",
    "skills": ["en"],
    "channels": {"voice": {"capacity": 1}, "text": {"capacity": 3}},
}


def test_agents_are_created_listed_read_and_changed(client, published):
    created = client.post("/agents", json=AGENT)
    assert created.status_code == 201, created.json
    agent = created.json
    assert created.headers["Location"] == f"/agents/{agent['id']}"
    assert agent["status"] == "available"
    assert agent["channels"] == {
        "voice": {"capacity": 1, "active": 0, "free": 1},
        "text": {"capacity": 3, "active": 0, "free": 3},
    }
    assert published == [(dispatch.AGENT_PULL, agent["id"])]
    assert client.get(f"/agents/{agent['id']}").json == agent
    assert client.get("/agents").json == {"items": [agent], "next": None}
    assert client.get("/agents?status=away").json["items"] == []

    patched = client.patch(
        f"/agents/{agent['id']}", json={"status": "away", "skills": ["en", "fr"]}
    )
    assert patched.status_code == 200
    assert (patched.json["status"], patched.json["skills"]) == ("away", ["en", "fr"])
    back = client.patch(f"/agents/{agent['id']}", json={"status": "available"})
    assert back.status_code == 200
    assert published[-1] == (dispatch.AGENT_PULL, agent["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**AGENT, "name": ""}, "name"),
        ({**AGENT, "status": "asleep"}, "status"),
        ({**AGENT, "skills": "en"}, "skills"),
        ({**AGENT, "channels": {"voice": {"capacity": -1}}}, "channels.voice.capacity"),
        # Strict integers: bool is an int in Python, and 1.0 or "1" is no capacity either.
        ({**AGENT, "channels": {"voice": {"capacity": True}}}, "channels.voice.capacity"),
        ({**AGENT, "channels": {"text": {"capacity": 1.5}}}, "channels.text.capacity"),
        ({**AGENT, "channels": {"text": {"capacity": "1"}}}, "channels.text.capacity"),
        ({**AGENT, "channels": {"fax": {"capacity": 1}}}, "channels.fax"),
        ({**AGENT, "shoe_size": 9}, "shoe_size"),
        ({"skills": []}, "name"),
    ],
)
def test_bad_agents_are_refused_naming_the_field(client, body, field):
    reply = client.post("/agents", json=body)
    assert reply.status_code == 400
    assert reply.json["field"] == field
    assert reply.json["error"].startswith(field)


def test_unknown_ids_are_404(client):
    assert client.get("/agents/nope").status_code == 404
    assert client.patch("/agents/nope", json={"status": "away"}).status_code == 404
    assert client.get("/tickets/nope").status_code == 404
    assert client.post("/tickets/nope/complete").status_code == 404
    assert client.post("/tickets/nope/cancel").status_code == 404


def test_a_ticket_is_accepted_waiting_and_published(client, published):
    reply = client.post(
        "/tickets", json={"channel": "voice", "skills": ["en"], "data": {"a.b": [[1]], "$x": 2**70}}
    )
    assert reply.status_code == 202
    ticket = reply.json
    assert ticket["status"] == "waiting"
    assert ticket["priority"] == 5
    assert ticket["data"] == {"a.b": [[1]], "$x": 2**70}
    assert reply.headers["Location"] == f"/tickets/{ticket['id']}"
    assert published == [(dispatch.ASSIGN_TICKET, ticket["id"])]
    assert client.get(f"/tickets/{ticket['id']}").json == ticket


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({}, "channel"),
        ({"channel": "text", "priority": 10}, "priority"),
        ({"channel": "text", "priority": "high"}, "priority"),
        ({"channel": "text", "priority": True}, "priority"),
        ({"channel": "text", "priority": 5.5}, "priority"),
        ({"channel": "text", "skills": [""]}, "skills.0"),
    ],
)
def test_bad_tickets_are_refused_naming_the_field(client, body, field):
    reply = client.post("/tickets", json=body)
    assert reply.status_code == 400
    assert reply.json["field"] == field


def test_a_body_that_is_not_a_json_object_is_400(client):
    assert client.post("/tickets", data="[", content_type="application/json").status_code == 400
    assert client.post("/agents", json=[1]).status_code == 400


def test_lifecycle_conflicts_are_409(client, store, published):
    agent = client.post("/agents", json=AGENT).json
    ticket = client.post("/tickets", json={"channel": "text"}).json
    assert client.post(f"/tickets/{ticket['id']}/complete").status_code == 409  # still waiting
    TicketWorker(store).assign(ticket["id"])
    assert client.get(f"/agents/{agent['id']}").json["tickets"] == [ticket["id"]]
    lowered = client.patch(f"/agents/{agent['id']}", json={"channels": {"text": {"capacity": 0}}})
    assert lowered.status_code == 409
    assert lowered.json["field"] == "channels.text.capacity"
    done = client.post(f"/tickets/{ticket['id']}/complete")
    assert done.status_code == 200
    assert (done.json["status"], done.json["agent_id"]) == ("completed", agent["id"])
    assert done.json["completed_at"] is not None
    assert published[-1] != (dispatch.AGENT_PULL, agent["id"])  # nothing waits: no pull
    again = client.post(f"/tickets/{ticket['id']}/cancel")
    assert again.status_code == 409
    assert again.json["ticket"]["status"] == "completed"
    assert client.get(f"/agents/{agent['id']}").json["channels"]["text"]["active"] == 0


def test_tickets_are_listed_newest_first_with_filters_and_a_cursor(client):
    ids = [
        client.post("/tickets", json={"channel": ch}).json["id"]
        for ch in ("voice", "text", "voice")
    ]
    page = client.get("/tickets?limit=2").json
    assert [t["id"] for t in page["items"]] == ids[::-1][:2]
    rest = client.get(f"/tickets?limit=2&cursor={page['next']}").json
    assert ([t["id"] for t in rest["items"]], rest["next"]) == ([ids[0]], None)
    assert len(client.get("/tickets?channel=voice&status=waiting").json["items"]) == 2
    assert client.get("/tickets?status=lost").status_code == 400
    assert client.get("/tickets?limit=0").status_code == 400


def test_stats_describe_the_queue_and_the_agents(client):
    client.post("/agents", json={**AGENT, "status": "away"})
    client.post("/tickets", json={"channel": "voice"})
    s = client.get("/tickets/stats").json
    assert s["waiting"] == {"voice": 1, "text": 0, "total": 1}
    assert s["time_to_assign_seconds"]["count"] == 0
    assert s["occupancy"]["text"] == {"active": 0, "capacity": 3, "ratio": 0.0}
    assert s["agents"]["away"] == 1


def test_stats_count_tickets_given_up_while_waiting(client, store, published):
    worker = TicketWorker(store)
    client.post("/agents", json={**AGENT, "channels": {"voice": {"capacity": 1}}})
    served = client.post("/tickets", json={"channel": "voice"}).json
    worker.assign(served["id"])
    given_up = client.post("/tickets", json={"channel": "voice"}).json
    assert client.post(f"/tickets/{given_up['id']}/cancel").status_code == 200
    assert client.post(f"/tickets/{served['id']}/cancel").status_code == 200
    s = client.get("/tickets/stats").json
    assert s["abandoned"]["voice"] == {"count": 1, "ratio": 0.5}
    assert s["service_level"]["voice"]["assigned"] == 1


def test_a_broker_outage_is_503_and_leaves_no_ticket_to_serve(client, store, monkeypatch):
    def down(*_args):
        raise BrokerUnavailable("connection refused")

    monkeypatch.setattr(dispatch, "_send", down)
    reply = client.post("/tickets", json={"channel": "voice"})
    assert reply.status_code == 503
    assert reply.headers["Retry-After"]
    assert [t["status"] for t in store.tickets.find({})] == ["cancelled"]
    assert store.queue_entries() == []
    # Withdrawn, not given up by a customer: no abandonment.
    assert client.get("/tickets/stats").json["abandoned"]["voice"]["count"] == 0
    assert client.post("/agents", json=AGENT).status_code == 201  # the sweep will pull for it


def test_completing_with_tickets_waiting_asks_the_agent_to_pull(client, store, published):
    worker = TicketWorker(store)
    agent = client.post("/agents", json={**AGENT, "channels": {"text": {"capacity": 1}}}).json
    first = client.post("/tickets", json={"channel": "text"}).json
    worker.assign(first["id"])
    second = client.post("/tickets", json={"channel": "text"}).json
    assert worker.assign(second["id"]) is Assigned.WAITING
    assert client.post(f"/tickets/{first['id']}/complete").status_code == 200
    assert published[-1] == (dispatch.AGENT_PULL, agent["id"])


def test_a_page_stops_before_its_byte_budget(client, store):
    big = "x" * 3000
    ids = [
        client.post("/tickets", json={"channel": "text", "data": big}).json["id"] for _ in range(5)
    ]
    for status in ("", "waiting"):  # through the history walk, and through the status index
        seen, cursor, pages = [], "", 0
        while cursor is not None:
            items, cursor = store.list_tickets(status or None, None, None, 50, cursor or None, 7000)
            assert items, "a page is never empty"
            seen += [t["_id"] for t in items]
            pages += 1
        assert seen == ids[::-1] and pages == 3
