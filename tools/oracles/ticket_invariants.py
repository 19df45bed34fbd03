"""The assignment invariants, checked over a snapshot of agents and tickets as the API shows them.

Always, even mid-flight:
- capacity: per agent and channel, `active` ≤ `capacity`, `free` = `capacity` - `active`, and
  the tickets assigned to or reserved for (offered to) the agent on that channel are no more
  than its capacity: an offer holds capacity as an assignment does;
- single agent: an assigned or reserved ticket is held by the agent it names, and by no other
  one (a ticket is reserved by at most one agent).
Once settled (nothing in flight, one sweep later):
- no leak: an agent holds exactly the tickets assigned to or reserved for it;
- no stranding: no ticket waits while an eligible agent has free capacity (an agent that
  rejected the ticket, or let its offer lapse, is not eligible for it).

The snapshot is plain data (the API's JSON), so tests and the simulator use the same checker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from services.core.documents import ReadOnlyDoc as Doc

# The statuses in which a ticket holds a unit of its agent's capacity.
HOLDING = ("assigned", "reserved")


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def check(agents: Iterable[Doc], tickets: Iterable[Doc], settled: bool = False) -> list[Violation]:
    agents, tickets = list(agents), list(tickets)
    return [
        *_capacity(agents, tickets),
        *_single_agent(agents, tickets, settled),
        *(_stranded(agents, tickets) if settled else []),
    ]


def _capacity(agents: list[Doc], tickets: list[Doc]) -> list[Violation]:
    found: list[Violation] = []
    assigned = Counter((t["agent_id"], t["channel"]) for t in tickets if t["status"] in HOLDING)
    for agent in agents:
        for channel, c in agent["channels"].items():
            where = f"agent {agent['id']} {channel}"
            active, capacity, free = c["active"], c["capacity"], c["free"]
            if active > capacity:
                found.append(Violation("capacity", f"{where}: {active} active > {capacity}"))
            if free != capacity - active or free < 0:
                found.append(Violation("capacity", f"{where}: free {free}, {active}/{capacity}"))
            n = assigned[(agent["id"], channel)]
            if n > capacity:
                found.append(Violation("capacity", f"{where}: {n} assigned/reserved > {capacity}"))
    return found


def _single_agent(agents: list[Doc], tickets: list[Doc], settled: bool) -> list[Violation]:
    found: list[Violation] = []
    holders: dict[str, list[str]] = defaultdict(list)
    for agent in agents:
        for ticket_id in agent["tickets"]:
            holders[ticket_id].append(agent["id"])
        active = sum(c["active"] for c in agent["channels"].values())
        if active != len(agent["tickets"]):
            held = len(agent["tickets"])
            found.append(
                Violation("capacity", f"agent {agent['id']}: {active} active, {held} held")
            )
    for ticket in tickets:
        held_by = holders.get(ticket["id"], [])
        what = f"{ticket['status']} ticket {ticket['id']}"
        if ticket["status"] in HOLDING and ticket["agent_id"] not in held_by:
            found.append(
                Violation("single agent", f"{what}: {ticket['agent_id']} does not hold it")
            )
        if not settled:
            continue
        if len(held_by) > 1:
            found.append(Violation("single agent", f"{what} held by {held_by}"))
        elif held_by and ticket["status"] not in HOLDING:
            found.append(Violation("leak", f"{what} still holds capacity of {held_by}"))
    if settled:
        known = {t["id"] for t in tickets}
        for ticket_id, held_by in holders.items():
            if ticket_id not in known:
                found.append(Violation("leak", f"unknown ticket {ticket_id} held by {held_by}"))
    return found


def _stranded(agents: list[Doc], tickets: list[Doc]) -> list[Violation]:
    found: list[Violation] = []
    for ticket in tickets:
        if ticket["status"] != "waiting":
            continue
        declined = _declined_by(ticket)
        for agent in agents:
            if (
                agent["id"] not in declined
                and agent["status"] == "available"
                and agent["channels"][ticket["channel"]]["free"] > 0
                and set(ticket["skills"]) <= set(agent["skills"])
            ):
                detail = f"ticket {ticket['id']} waits while agent {agent['id']} is free for it"
                found.append(Violation("stranded", detail))
                break
    return found


def _declined_by(ticket: Doc) -> set[str]:
    """Agents that rejected the ticket or let its offer lapse (kept from it for a while)."""
    return {
        e["agent_id"] for e in ticket.get("timeline", []) if e["event"] in ("rejected", "timed_out")
    }
