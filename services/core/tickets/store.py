"""Every read and write of the `agents`, `tickets` and `ticket_queue` collections.

Each state change is one conditional update that names the state it expects, and every write
to a ticket or an agent names its `_id`, so it stays cheap on any server.

`ticket_queue` holds one small entry per waiting ticket, so that the queries agents make ("the
best ticket I can take") read a collection as small as the queue rather than every ticket ever
made. The ticket stays the truth: its entry is written before it and removed only after it is
seen to have left `waiting`, so a waiting ticket always has an entry; a stale entry is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from services.core import clock, jsonfield, recent
from services.core.config import PAGE_MAX_BYTES
from services.core.documents import Doc
from services.core.tickets import matching
from services.core.tickets.holds import Hold, new_hold
from services.core.tickets.offers import OfferPolicy
from services.core.tickets.states import (
    CHANNELS,
    FINISHED,
    AgentStatus,
    TicketStatus,
    active_field,
    capacity_field,
    free_field,
)

_AFTER = ReturnDocument.AFTER
QUEUE_FIELDS = ("channel", "skills", "priority", "rank", "created_at")
TICKET_TIMESTAMPS = (
    "created_at",
    "reserved_until",
    "assigned_at",
    "completed_at",
    "cancelled_at",
    "updated_at",
)


def new_agent(
    name: str,
    skills: Sequence[str],
    capacities: Mapping[str, int],
    status: str,
    auto_accept: bool = True,
) -> Doc:
    t = clock.now()
    doc: Doc = {
        "_id": str(ObjectId()),
        "name": name,
        "skills": sorted(set(skills)),
        "status": status,
        # False: each ticket is first offered (`reserved`) and waits for the agent's answer.
        "auto_accept": auto_accept,
        # Offers in a row the agent left unanswered (reset by an answer).
        "missed_offers": 0,
        "holds": [],
        "assigned_total": 0,
        # A new agent counts as idle since it was created.
        "last_freed_at": t,
        "created_at": t,
        "updated_at": t,
    }
    for channel in CHANNELS:
        capacity = capacities.get(channel, 0)
        doc[capacity_field(channel)] = capacity
        doc[active_field(channel)] = 0
        doc[free_field(channel)] = capacity
    return doc


def new_ticket(channel: str, skills: Sequence[str], priority: int, data: Any) -> Doc:
    t = clock.now()
    return {
        "_id": str(ObjectId()),
        "channel": channel,
        "skills": sorted(set(skills)),
        "priority": priority,
        "rank": matching.channel_rank(channel),
        "data": jsonfield.dump(data),
        "status": TicketStatus.WAITING.value,
        "agent_id": None,
        "hold": None,
        # Bumped by the sweep to void a reservation it gives up on (see `fence`), and when an
        # offer ends unaccepted.
        "epoch": 0,
        # While `reserved`: when the offer lapses (an equality-filtered partial index holds these).
        "reserved_until": None,
        # The skills asked for before an escalation widened `skills`: agents with them come first.
        "preferred_skills": [],
        # Agent id → until when that agent is not offered this ticket again.
        "declined": {},
        # Offers, answers and widenings, oldest first.
        "timeline": [],
        "created_at": t,
        "assigned_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "updated_at": t,
    }


def agent_to_api(doc: Doc) -> Doc:
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "skills": doc["skills"],
        "status": doc["status"],
        "channels": {
            channel.value: {
                "capacity": doc[capacity_field(channel)],
                "active": doc[active_field(channel)],
                "free": doc[free_field(channel)],
            }
            for channel in CHANNELS
        },
        # The tickets holding this agent's capacity: its assigned ones, and any being assigned.
        "tickets": [h.split("|", 1)[0] for h in doc["holds"]],
        "assigned_total": doc["assigned_total"],
        "auto_accept": doc.get("auto_accept", True),
        "missed_offers": doc.get("missed_offers", 0),
        **{k: clock.iso(doc.get(k)) for k in ("last_freed_at", "created_at", "updated_at")},
    }


def ticket_to_api(doc: Doc) -> Doc:
    return {
        "id": doc["_id"],
        "channel": doc["channel"],
        "skills": doc["skills"],
        "priority": doc["priority"],
        "data": jsonfield.load(doc["data"]),
        "status": doc["status"],
        "agent_id": doc.get("agent_id"),
        "preferred_skills": doc.get("preferred_skills", []),
        "timeline": [_event_to_api(e) for e in doc.get("timeline", [])],
        **{k: clock.iso(doc.get(k)) for k in TICKET_TIMESTAMPS},
    }


def event(kind: str, at: datetime, agent_id: str | None = None, skills: Any = None) -> Doc:
    """One timeline entry: `offered`, `accepted`, `rejected`, `timed_out`, `assigned` (accepted
    automatically) name the agent; `widened` names the skills now required."""
    return {"event": kind, "at": at, "agent_id": agent_id, "skills": skills}


def _event_to_api(doc: Doc) -> Doc:
    return {**doc, "at": clock.iso(doc["at"])}


class TicketStore:
    def __init__(
        self,
        db: Database,
        *,
        page_max_bytes: int = PAGE_MAX_BYTES,
        offers: OfferPolicy | None = None,
    ) -> None:
        self.offers = offers or OfferPolicy()
        self.agents: Collection = db["agents"]
        self.page_max_bytes = page_max_bytes
        self.tickets: Collection = db["tickets"]
        self.queue: Collection = db["ticket_queue"]

    def ensure_indexes(self) -> None:
        self.tickets.create_index([("status", ASCENDING), ("_id", DESCENDING)])
        self.tickets.create_index([("agent_id", ASCENDING), ("_id", DESCENDING)])
        self.tickets.create_index([("assigned_at", ASCENDING)])
        self.tickets.create_index([("abandoned_at", ASCENDING)], sparse=True)
        # Offers awaiting an answer only, so the sweep's look for lapsed ones is bounded by the
        # tickets in flight. Equality, not `$in`: secantusd-rs ignores partial indexes with `$in`.
        self.tickets.create_index(
            [("reserved_until", ASCENDING)],
            name="offers_open",
            partialFilterExpression={"status": TicketStatus.RESERVED.value},
        )
        self.queue.create_index(matching.WAITING_SORT)
        # Agents are read by who is available (assignment) and who holds capacity (the sweep);
        # the second index holds busy agents only, so the sweep never walks the whole roster.
        self.agents.create_index([("status", ASCENDING)])
        for channel in CHANNELS:
            busy = {active_field(channel): {"$gt": 0}}
            self.agents.create_index(
                [(active_field(channel), ASCENDING)],
                name=f"busy_{channel.value}",
                partialFilterExpression=busy,
            )

    # -- agents -----------------------------------------------------------------------------------

    def insert_agent(self, doc: Doc) -> None:
        self.agents.insert_one(doc)

    def get_agent(self, agent_id: str) -> Doc | None:
        return self.agents.find_one({"_id": agent_id})

    def all_agents(self) -> list[Doc]:
        return list(self.agents.find({}))

    def list_agents(
        self, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Doc], str | None]:
        """Oldest first; `cursor` is the last id of the previous page."""
        query: Doc = {}
        if status:
            query["status"] = status
        if cursor:
            query["_id"] = {"$gt": cursor}
        agents = self.agents.find(query).sort("_id", ASCENDING).limit(limit + 1)
        return recent.bounded(agents, limit, None)

    def reserve(self, agent_id: str, ticket: Doc) -> tuple[Hold, Doc] | None:
        """Take one unit of the agent's capacity for the ticket, if the agent is still eligible.

        The hold, and the agent as it is after the update.
        """
        channel = ticket["channel"]
        t = clock.now()
        hold = new_hold(ticket["_id"], channel, t)
        query = {"_id": agent_id, **matching.eligible_filter(channel, ticket["skills"])}
        agent = self.agents.find_one_and_update(
            query,
            {
                "$inc": {free_field(channel): -1, active_field(channel): 1, "assigned_total": 1},
                "$push": {"holds": str(hold)},
                "$set": {"updated_at": t},
            },
            return_document=_AFTER,
        )
        return None if agent is None else (hold, agent)

    def release(self, agent_id: str, hold: Hold, *, finished: bool) -> bool:
        """Give back the unit `hold` took; False when it was already given back.

        `finished`: the ticket ended (the agent is now idle from this moment); otherwise the
        reservation is undone and does not count as an assignment.
        """
        t = clock.now()
        channel = hold.channel
        inc = {free_field(channel): 1, active_field(channel): -1}
        update: Doc = {"$pull": {"holds": str(hold)}, "$set": {"updated_at": t}}
        if finished:
            update["$set"]["last_freed_at"] = t
        else:
            inc["assigned_total"] = -1
        update["$inc"] = inc
        done = self.agents.update_one({"_id": agent_id, "holds": str(hold)}, update)
        return done.modified_count == 1

    def change_agent(
        self, agent: Doc, fields: Mapping[str, Any], capacities: Mapping[str, int]
    ) -> Doc | None:
        """Set fields and capacities in one conditional update; None if the agent moved on.

        A capacity change moves `free` by the same amount, so `free = capacity - active` keeps
        holding whatever reservations happen meanwhile; it is refused when `active` exceeds
        the new capacity, so `free` never goes negative.
        """
        query: Doc = {"_id": agent["_id"]}
        update: Doc = {"$set": {**fields, "updated_at": clock.now()}}
        inc: Doc = {}
        for channel, capacity in capacities.items():
            old = agent[capacity_field(channel)]
            query[capacity_field(channel)] = old
            query[active_field(channel)] = {"$lte": capacity}
            update["$set"][capacity_field(channel)] = capacity
            if capacity != old:
                inc[free_field(channel)] = capacity - old
        if inc:
            update["$inc"] = inc
        return self.agents.find_one_and_update(query, update, return_document=_AFTER)

    def available_agents(self) -> list[Doc]:
        """Only these can be assigned anything: offline and away agents are never read."""
        return list(self.agents.find({"status": AgentStatus.AVAILABLE.value}))

    def agents_with_free_capacity(self) -> list[Doc]:
        return [a for a in self.available_agents() if any(a[free_field(c)] > 0 for c in CHANNELS)]

    def agents_holding_capacity(self) -> list[Doc]:
        """Agents with an active ticket or reservation on some channel: the sweep's to check.

        One query per channel rather than an `$or`, so that each is served by its own partial
        index of busy agents.
        """
        busy: dict[str, Doc] = {}
        for channel in CHANNELS:
            for agent in self.agents.find({active_field(channel): {"$gt": 0}}):
                busy[agent["_id"]] = agent
        return list(busy.values())

    # -- tickets ----------------------------------------------------------------------------------

    def insert_ticket(self, doc: Doc) -> None:
        """Queue entry first, so that a waiting ticket never lacks one."""
        self.queue.insert_one({"_id": doc["_id"], **{k: doc[k] for k in QUEUE_FIELDS}})
        self.tickets.insert_one(doc)

    def get_ticket(self, ticket_id: str) -> Doc | None:
        return self.tickets.find_one({"_id": ticket_id})

    def list_tickets(
        self,
        status: str | None,
        channel: str | None,
        agent_id: str | None,
        limit: int,
        cursor: str | None,
        max_bytes: int | None = None,
    ) -> tuple[list[Doc], str | None]:
        """Newest first; `cursor` is the `next` of the previous page.

        Open tickets (and one agent's) are found through their indexes; any other filter
        matches history, so the page walks `_id` windows (`recent`) and may come back short;
        any page does once its tickets pass `max_bytes` (PAGE_MAX_BYTES by default).
        """
        max_bytes = max_bytes or self.page_max_bytes
        query: Doc = {}
        for name, value in (("status", status), ("channel", channel), ("agent_id", agent_id)):
            if value:
                query[name] = value
        if agent_id is None and (status is None or TicketStatus(status) in FINISHED):
            return recent.page(self.tickets, query, limit, cursor, clock.now(), max_bytes)
        if cursor:
            query["_id"] = {"$lt": cursor}
        tickets = self.tickets.find(query).sort("_id", DESCENDING).limit(limit + 1)
        return recent.bounded(tickets, limit, max_bytes)

    def commit(self, ticket: Doc, agent_id: str, hold: Hold, offer: bool = False) -> Doc | None:
        """waiting → assigned (or → reserved, an `offer` awaiting the agent's answer), unless the
        ticket moved on or the sweep voided this reservation."""
        t = clock.now()
        changes: Doc = {"agent_id": agent_id, "hold": str(hold), "updated_at": t}
        if offer:
            changes["status"] = TicketStatus.RESERVED.value
            changes["reserved_until"] = t + timedelta(seconds=self.offers.timeout)
        else:
            changes["status"] = TicketStatus.ASSIGNED.value
            changes["assigned_at"] = t
        kind = "offered" if offer else "assigned"
        return self.tickets.find_one_and_update(
            {"_id": ticket["_id"], "status": TicketStatus.WAITING.value, "epoch": ticket["epoch"]},
            {"$set": changes, "$push": {"timeline": event(kind, t, agent_id)}},
            return_document=_AFTER,
        )

    def accept(self, ticket_id: str, agent_id: str) -> Doc | None:
        """reserved → assigned for the agent it was offered to; None if it is not on offer to it."""
        t = clock.now()
        return self.tickets.find_one_and_update(
            {"_id": ticket_id, "status": TicketStatus.RESERVED.value, "agent_id": agent_id},
            {
                "$set": {
                    "status": TicketStatus.ASSIGNED.value,
                    "reserved_until": None,
                    "assigned_at": t,
                    "updated_at": t,
                },
                "$push": {"timeline": event("accepted", t, agent_id)},
            },
            return_document=_AFTER,
        )

    def unreserve(self, ticket: Doc, kind: str) -> Doc | None:
        """reserved → waiting: the offer named in `ticket` was rejected or timed out (`kind`).

        The agent is not offered the ticket again for the policy's cooldown, and the epoch moves
        on so that no reservation made before this can commit. None if the offer already ended.
        """
        t = clock.now()
        agent_id = ticket["agent_id"]
        until = t + timedelta(seconds=self.offers.cooldown)
        return self.tickets.find_one_and_update(
            {"_id": ticket["_id"], "status": TicketStatus.RESERVED.value, "hold": ticket["hold"]},
            {
                "$set": {
                    "status": TicketStatus.WAITING.value,
                    "agent_id": None,
                    "hold": None,
                    "reserved_until": None,
                    f"declined.{agent_id}": until,
                    "updated_at": t,
                },
                "$inc": {"epoch": 1},
                "$push": {"timeline": event(kind, t, agent_id)},
            },
            return_document=_AFTER,
        )

    def lapsed_offers(self, now: datetime) -> list[Doc]:
        """Reserved tickets whose offer is past its time (served by the `offers_open` index)."""
        query = {"status": TicketStatus.RESERVED.value, "reserved_until": {"$lt": now}}
        return list(self.tickets.find(query))

    def widen(self, ticket: Doc, skills: Sequence[str]) -> Doc | None:
        """Require `skills` instead of the ticket's current ones, if it still waits with those."""
        t = clock.now()
        preferred = ticket.get("preferred_skills") or ticket["skills"]
        wanted = sorted(set(skills))
        return self.tickets.find_one_and_update(
            {
                "_id": ticket["_id"],
                "status": TicketStatus.WAITING.value,
                "skills": ticket["skills"],
            },
            {
                "$set": {"skills": wanted, "preferred_skills": preferred, "updated_at": t},
                "$push": {"timeline": event("widened", t, skills=wanted)},
            },
            return_document=_AFTER,
        )

    def count_miss(self, agent_id: str, misses_away: int) -> Doc | None:
        """One more offer left unanswered; at `misses_away` in a row the agent is set `away`."""
        agent = self.agents.find_one_and_update(
            {"_id": agent_id},
            {"$inc": {"missed_offers": 1}, "$set": {"updated_at": clock.now()}},
            return_document=_AFTER,
        )
        if agent is None or agent["missed_offers"] < misses_away:
            return agent
        return self.agents.find_one_and_update(
            {"_id": agent_id, "status": AgentStatus.AVAILABLE.value},
            {"$set": {"status": AgentStatus.AWAY.value, "missed_offers": 0}},
            return_document=_AFTER,
        )

    def answered(self, agent_id: str) -> None:
        """The agent answered an offer: its run of misses ends."""
        self.agents.update_one(
            {"_id": agent_id, "missed_offers": {"$gt": 0}}, {"$set": {"missed_offers": 0}}
        )

    def finish(
        self, ticket_id: str, was: TicketStatus, becomes: TicketStatus, abandoned: bool = False
    ) -> Doc | None:
        """was → completed or cancelled; the ticket as it now is, None if it was not `was`.

        `abandoned`: the customer gave up before any agent took it (`abandoned_since`)."""
        t = clock.now()
        changes = {"status": becomes.value, f"{becomes.value}_at": t, "updated_at": t}
        if abandoned:
            changes["abandoned_at"] = t
        return self.tickets.find_one_and_update(
            {"_id": ticket_id, "status": was.value}, {"$set": changes}, return_document=_AFTER
        )

    def fence(self, ticket_id: str) -> bool:
        """Void every reservation made for a waiting ticket so far; False if it is not waiting."""
        done = self.tickets.update_one(
            {"_id": ticket_id, "status": TicketStatus.WAITING.value}, {"$inc": {"epoch": 1}}
        )
        return done.modified_count == 1

    def assigned_since(self, since: datetime) -> list[Doc]:
        fields = {"created_at": 1, "assigned_at": 1, "channel": 1}
        return list(self.tickets.find({"assigned_at": {"$gte": since}}, fields))

    def abandoned_since(self, since: datetime) -> list[Doc]:
        """Tickets ended while still waiting, since `since` (a sparse index holds only those)."""
        fields = {"created_at": 1, "abandoned_at": 1, "channel": 1}
        return list(self.tickets.find({"abandoned_at": {"$gte": since}}, fields))

    # -- the queue of waiting tickets -------------------------------------------------------------

    def enqueue(self, ticket: Doc) -> None:
        """(Re)write the ticket's queue entry, from its creation time: it keeps its place by age."""
        entry = {k: ticket[k] for k in QUEUE_FIELDS}
        self.queue.replace_one({"_id": ticket["_id"]}, entry, upsert=True)

    def set_entry_skills(self, ticket_id: str, skills: Sequence[str]) -> None:
        self.queue.update_one({"_id": ticket_id}, {"$set": {"skills": list(skills)}})

    def dequeue(self, ticket_id: str) -> None:
        self.queue.delete_one({"_id": ticket_id})

    def has_waiting(self) -> bool:
        return self.queue.find_one({}, {"_id": 1}) is not None

    def queue_entries(self) -> list[Doc]:
        return list(self.queue.find({}).sort(matching.WAITING_SORT))
