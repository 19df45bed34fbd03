"""Tickets and agents end to end: the API through Nginx, assignment on the Celery workers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.client import Api, wait_for

pytestmark = pytest.mark.integration


def skill(name: str) -> str:
    """A skill no other test uses, so tests cannot take each other's tickets."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def new_agent(api: Api, skills: list[str], voice: int = 1, text: int = 0, **fields: Any) -> dict:
    body = {
        "name": "agent",
        "skills": skills,
        "channels": {"voice": {"capacity": voice}, "text": {"capacity": text}},
        **fields,
    }
    reply = api.post("/agents", body)
    assert reply.status == 201, reply.text
    return dict(reply.json)


def new_ticket(api: Api, channel: str, skills: list[str], **fields: Any) -> dict:
    reply = api.post("/tickets", {"channel": channel, "skills": skills, **fields})
    assert reply.status == 202, reply.text
    assert reply.json["status"] == "waiting"
    return dict(reply.json)


def patch(api: Api, agent_id: str, body: dict) -> Any:
    return api.call("PATCH", f"/agents/{agent_id}", body)


def ticket_when(api: Api, ticket_id: str, *statuses: str) -> dict:
    def probe() -> dict | None:
        doc = api.get(f"/tickets/{ticket_id}").json
        return doc if doc["status"] in statuses else None

    return wait_for(probe, 30, f"ticket {ticket_id} to be {'/'.join(statuses)}")


def test_a_ticket_is_assigned_on_a_worker_and_completed(api: Api) -> None:
    en = skill("en")
    agent = new_agent(api, [en], voice=1, text=2)
    ticket = new_ticket(api, "voice", [en], data={"caller": "+1 555", "k.v": [[1]]})
    assigned = ticket_when(api, ticket["id"], "assigned")
    assert assigned["agent_id"] == agent["id"]
    assert assigned["assigned_at"] >= assigned["created_at"]
    assert assigned["data"] == {"caller": "+1 555", "k.v": [[1]]}
    shown = api.get(f"/agents/{agent['id']}").json
    assert shown["channels"]["voice"] == {"capacity": 1, "active": 1, "free": 0}
    assert shown["tickets"] == [ticket["id"]]
    listed = api.get(f"/tickets?agent_id={agent['id']}&status=assigned").json
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]

    done = api.post(f"/tickets/{ticket['id']}/complete")
    assert done.status == 200
    assert done.json["status"] == "completed" and done.json["completed_at"]
    assert api.post(f"/tickets/{ticket['id']}/complete").status == 409
    assert api.post(f"/tickets/{ticket['id']}/cancel").status == 409
    assert api.get(f"/agents/{agent['id']}").json["channels"]["voice"]["active"] == 0
    patch(api, agent["id"], {"status": "offline"})


def test_a_ticket_waits_for_an_agent_that_becomes_available_and_pulls_it(api: Api) -> None:
    fr = skill("fr")
    agent = new_agent(api, [fr], voice=0, text=1, status="away")
    low = new_ticket(api, "text", [fr], priority=2)
    high = new_ticket(api, "text", [fr], priority=8)
    stats = api.get("/tickets/stats").json
    assert stats["waiting"]["text"] >= 2 and stats["longest_wait_seconds"] >= 0
    assert patch(api, agent["id"], {"status": "available"}).status == 200
    assert ticket_when(api, high["id"], "assigned")["agent_id"] == agent["id"]
    assert api.get(f"/tickets/{low['id']}").json["status"] == "waiting"  # capacity 1

    api.post(f"/tickets/{high['id']}/complete")
    assert ticket_when(api, low["id"], "assigned")["agent_id"] == agent["id"]
    patch(api, agent["id"], {"status": "away"})
    api.post(f"/tickets/{low['id']}/complete")
    waiting = new_ticket(api, "text", [fr])
    cancelled = api.post(f"/tickets/{waiting['id']}/cancel")
    assert cancelled.status == 200 and cancelled.json["status"] == "cancelled"
    assert api.get(f"/tickets/{waiting['id']}").json["agent_id"] is None
    stats = api.get("/tickets/stats").json
    assert stats["time_to_assign_seconds"]["count"] >= 2
    assert stats["time_to_assign_seconds"]["p50"] is not None


def test_voice_is_served_before_text_at_equal_priority(api: Api) -> None:
    de = skill("de")
    agent = new_agent(api, [de], voice=1, text=1, status="away")
    text = new_ticket(api, "text", [de])
    voice = new_ticket(api, "voice", [de])
    patch(api, agent["id"], {"channels": {"text": {"capacity": 0}}})
    patch(api, agent["id"], {"status": "available"})
    assert ticket_when(api, voice["id"], "assigned")["agent_id"] == agent["id"]
    assert api.get(f"/tickets/{text['id']}").json["status"] == "waiting"
    for t in (voice, text):
        api.post(f"/tickets/{t['id']}/cancel")
    patch(api, agent["id"], {"status": "offline"})


def test_capacity_cannot_be_lowered_below_active_tickets(api: Api) -> None:
    es = skill("es")
    agent = new_agent(api, [es], voice=0, text=2)
    tickets = [new_ticket(api, "text", [es]) for _ in range(2)]
    for t in tickets:
        ticket_when(api, t["id"], "assigned")
    lowered = patch(api, agent["id"], {"channels": {"text": {"capacity": 1}}})
    assert lowered.status == 409
    assert lowered.json["field"] == "channels.text.capacity"
    for t in tickets:
        api.post(f"/tickets/{t['id']}/complete")
    assert patch(api, agent["id"], {"channels": {"text": {"capacity": 1}}}).status == 200
    patch(api, agent["id"], {"status": "offline"})


def test_errors_follow_the_api_conventions(api: Api) -> None:
    bad = api.post("/tickets", {"channel": "fax"})
    assert bad.status == 400 and bad.json["field"] == "channel"
    bad = api.post("/agents", {"name": "x", "channels": {"voice": {"capacity": "one"}}})
    assert bad.status == 400 and bad.json["field"] == "channels.voice.capacity"
    assert api.post("/tickets", raw=b"{").status == 400
    assert api.get("/tickets/000000000000000000000000").status == 404
    assert api.get("/agents/000000000000000000000000").status == 404
    assert patch(api, "000000000000000000000000", {"status": "away"}).status == 404
    assert api.get("/tickets?channel=fax").status == 400
