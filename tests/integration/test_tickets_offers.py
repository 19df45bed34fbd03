"""Offers and escalation end to end: agents accept and reject through the API with their own
keys, offers lapse on the real sweep, and a ticket widens past its skill set's threshold."""

from __future__ import annotations

import pytest

from tests.integration.client import Api, wait_for
from tests.integration.test_tickets import new_agent, new_ticket, skill, ticket_when

pytestmark = pytest.mark.integration


def agent_api(api: Api, agent_id: str) -> Api:
    """A client with a `tickets:agent` key acting as this agent."""
    made = api.post("/keys", {"name": "agent", "scopes": ["tickets:agent"], "agent_id": agent_id})
    assert made.status == 201, made.text
    return Api(api.base_url, made.json["key"])


def events(ticket: dict) -> list[tuple[str, str | None]]:
    return [(e["event"], e["agent_id"]) for e in ticket["timeline"]]


def test_an_offer_is_accepted_by_its_agent_only(api: Api) -> None:
    en = skill("en")
    agent = new_agent(api, [en], auto_accept=False)
    assert agent["auto_accept"] is False
    ticket = new_ticket(api, "voice", [en])
    offered = ticket_when(api, ticket["id"], "reserved")
    assert offered["agent_id"] == agent["id"] and offered["reserved_until"] is not None
    shown = api.get(f"/agents/{agent['id']}").json
    assert shown["channels"]["voice"] == {"capacity": 1, "active": 1, "free": 0}
    assert shown["tickets"] == [ticket["id"]]

    stranger = agent_api(api, new_agent(api, [skill("other")])["id"])
    assert stranger.post(f"/tickets/{ticket['id']}/accept").status == 403
    own = agent_api(api, agent["id"])
    reply = own.post(f"/tickets/{ticket['id']}/accept")
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "assigned" and reply.json["reserved_until"] is None
    assert events(reply.json) == [("offered", agent["id"]), ("accepted", agent["id"])]
    again = own.post(f"/tickets/{ticket['id']}/accept")
    assert again.status == 409 and again.json["ticket"]["status"] == "assigned"
    assert own.post(f"/tickets/{ticket['id']}/complete").status == 200


def test_a_rejected_offer_goes_to_another_agent(api: Api) -> None:
    en = skill("en")
    shy = new_agent(api, [en], auto_accept=False)
    ticket = new_ticket(api, "voice", [en])
    ticket_when(api, ticket["id"], "reserved")
    willing = new_agent(api, [en])  # joins after the offer, so only a rejection reaches it
    reply = agent_api(api, shy["id"]).post(f"/tickets/{ticket['id']}/reject")
    assert reply.status == 200, reply.text
    assert reply.json["status"] in ("waiting", "assigned")
    assigned = ticket_when(api, ticket["id"], "assigned")
    assert assigned["agent_id"] == willing["id"]
    assert events(assigned) == [
        ("offered", shy["id"]),
        ("rejected", shy["id"]),
        ("assigned", willing["id"]),
    ]
    assert api.get(f"/agents/{shy['id']}").json["channels"]["voice"]["active"] == 0
    assert api.post(f"/tickets/{ticket['id']}/complete").status == 200


def test_unanswered_offers_lapse_and_send_the_agent_away(api: Api) -> None:
    en = skill("en")
    silent = new_agent(api, [en], auto_accept=False)
    ticket = new_ticket(api, "voice", [en])
    ticket_when(api, ticket["id"], "reserved")
    lapsed = ticket_when(api, ticket["id"], "waiting")
    assert events(lapsed)[:2] == [("offered", silent["id"]), ("timed_out", silent["id"])]
    assert lapsed["agent_id"] is None and lapsed["reserved_until"] is None

    def away() -> dict | None:
        agent = api.get(f"/agents/{silent['id']}").json
        return agent if agent["status"] == "away" else None

    # Once the cooldown is over the same ticket is offered again, and lapses again: two misses.
    agent = wait_for(away, 60, "the agent to be away")
    assert agent["channels"]["voice"]["active"] == 0 and agent["tickets"] == []
    assert agent["missed_offers"] == 0  # the run of misses starts again once it is back
    after = api.get(f"/tickets/{ticket['id']}").json
    assert after["status"] == "waiting"
    assert events(after) == [("offered", silent["id"]), ("timed_out", silent["id"])] * 2
    reply = agent_api(api, silent["id"]).post(f"/tickets/{ticket['id']}/accept")
    assert reply.status == 403  # a waiting ticket is no agent's
    assert api.post(f"/tickets/{ticket['id']}/cancel").status == 200


def test_a_ticket_past_its_threshold_widens_to_the_fallback(api: Api) -> None:
    fallback = new_agent(api, ["itest-fallback"])
    ticket = new_ticket(api, "voice", ["itest-escalate"])
    assigned = ticket_when(api, ticket["id"], "assigned")
    assert assigned["agent_id"] == fallback["id"]
    assert assigned["skills"] == ["itest-fallback"]
    assert assigned["preferred_skills"] == ["itest-escalate"]
    widened = [e for e in assigned["timeline"] if e["event"] == "widened"]
    assert [e["skills"] for e in widened] == [["itest-fallback"]]
    assert events(assigned)[-1] == ("assigned", fallback["id"])
    assert api.post(f"/tickets/{ticket['id']}/complete").status == 200


def test_answers_to_unknown_or_unoffered_tickets(api: Api) -> None:
    assert api.post("/tickets/0123456789abcdef01234567/accept").status == 404
    ticket = new_ticket(api, "voice", [skill("nobody")])
    reply = api.post(f"/tickets/{ticket['id']}/reject")
    assert reply.status == 409 and reply.json["ticket"]["status"] == "waiting"
    assert api.post(f"/tickets/{ticket['id']}/cancel").status == 200
