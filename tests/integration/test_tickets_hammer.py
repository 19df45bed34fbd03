"""The assignment invariants under load, races and crashes, checked from the data afterwards.

Hundreds of tickets against tens of agents with mixed skills and capacities, on four worker
processes; a third of the agents answer offers (accepting most, rejecting some, letting some
lapse); completions, cancels, answers and agent changes race new tickets; one worker is killed with
SIGKILL while assigning, and crashes are also planted at each step that touches two documents.
Then, once the sweep has had its turn, every invariant must hold in what MongoDB holds.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from services.core.tickets.states import TicketStatus
from services.core.tickets.store import TicketStore
from tests.integration.client import Api, wait_for
from tools.localstack.stack import LocalStack
from tools.localstack.topology import REPO, app_env
from tools.oracles.ticket_invariants import check

pytestmark = pytest.mark.integration

AGENTS = 30
TICKETS = 400
TICKET_CONSUMERS = 4  # the stack's ticket workers, and extra ones started here up to four
RATE = 40.0  # tickets per second
SETTLE_TIMEOUT = 120.0


@pytest.fixture
def extra_workers(stack: LocalStack, api: Api) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {**os.environ, **app_env(stack.config)}
    logs = stack.config.data_dir / "logs"
    procs = []
    for i in range(TICKET_CONSUMERS - stack.config.ticket_workers):
        log = open(logs / f"hammer-worker-{i}.log", "wb")  # noqa: SIM115 - kept open while it runs
        procs.append(
            subprocess.Popen(
                [stack.config.python, "-m", "services.worker"],
                env={
                    **env,
                    "WORKER_NAME": f"hammer-{i}-{uuid.uuid4().hex[:4]}@%h",
                    "WORKER_QUEUES": "tickets",
                },
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    wait_for(lambda: _ticket_consumers(api) >= TICKET_CONSUMERS, 90, "four ticket consumers")
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _ticket_consumers(api: Api) -> int:
    reply = api.get("/stats")
    return int(reply.json["queues"]["tickets"]["consumers"]) if reply.status == 200 else 0


@pytest.fixture
def store(stack: LocalStack) -> Iterator[TicketStore]:
    client: MongoClient = MongoClient(stack.config.mongo_url, tz_aware=True)
    try:
        yield TicketStore(client[stack.config.mongo_db])
    finally:
        client.close()


class Hammer:
    """Drives the load; every thread stops by itself, bounded in count and time."""

    def __init__(self, api: Api, rng: random.Random) -> None:
        self.api, self.rng = api, rng
        self.skills = [f"h{uuid.uuid4().hex[:4]}-{s}" for s in ("en", "fr", "billing", "tech")]
        self.agents: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.tickets: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.errors: list[str] = []

    def create_agents(self) -> None:
        for i in range(AGENTS):
            voice = self.rng.choice((0, 1, 1))
            text = self.rng.choice((0, 1, 2, 3)) if voice else self.rng.choice((1, 2, 3))
            body = {
                "name": f"hammer-{i}",
                "skills": self.rng.sample(self.skills, k=self.rng.randint(1, 3)),
                "channels": {"voice": {"capacity": voice}, "text": {"capacity": text}},
                "auto_accept": i % 3 != 0,
            }
            reply = self.api.post("/agents", body)
            assert reply.status == 201, reply.text
            self.agents.append(reply.json)
        self.ids = {a["id"] for a in self.agents}

    def produce(self) -> None:
        start = time.monotonic()
        for n in range(TICKETS):
            time.sleep(max(0.0, start + n / RATE - time.monotonic()))
            agent = self.rng.choice(self.agents)
            channels = [c for c, v in agent["channels"].items() if v["capacity"] > 0]
            body = {
                "channel": self.rng.choice(channels),
                "skills": self.rng.sample(
                    agent["skills"], k=self.rng.randint(0, min(2, len(agent["skills"])))
                ),
                "priority": self.rng.randint(0, 9),
                "data": {"n": n},
            }
            reply = self.api.post("/tickets", body)
            if reply.status != 202:
                self.errors.append(f"POST /tickets {reply.status} {reply.text[:200]}")
                continue
            with self.lock:
                self.tickets.append(reply.json["id"])

    def finish_assigned(self, deadline: float) -> None:
        """Complete (mostly) or cancel what agents hold, racing the new tickets."""
        while time.monotonic() < deadline and not self.done.is_set():
            held = [t for a in self._agents() for t in a["tickets"]]
            with self.lock:
                ours = set(self.tickets)
            for ticket_id in self.rng.sample(held, k=min(len(held), 10)):
                if ticket_id not in ours:
                    continue
                verb = "complete" if self.rng.random() < 0.9 else "cancel"
                reply = self.api.post(f"/tickets/{ticket_id}/{verb}")
                if reply.status not in (200, 409):
                    self.errors.append(f"{verb} {reply.status} {reply.text[:200]}")
            time.sleep(0.05)

    def answer_offers(self, deadline: float, lapse: float = 0.1, reject: float = 0.2) -> None:
        """Accept most offers, reject some, leave some to lapse; racing everything else.

        Draining (`lapse` 0), an agent that an offer lapsing anyway sent away comes back."""
        while time.monotonic() < deadline and not self.done.is_set():
            with self.lock:
                ours = set(self.tickets)
            for agent in self._agents():
                if agent["auto_accept"]:
                    continue
                if not lapse and agent["status"] == "away" and agent["id"] in self.ids:
                    self.api.call("PATCH", f"/agents/{agent['id']}", {"status": "available"})
                for ticket_id in set(agent["tickets"]) & ours:
                    draw = self.rng.random()
                    if draw < lapse:
                        continue
                    verb = "reject" if draw < lapse + reject else "accept"
                    reply = self.api.post(f"/tickets/{ticket_id}/{verb}")
                    if reply.status not in (200, 409):  # 409: not an offer (any more)
                        self.errors.append(f"{verb} {reply.status} {reply.text[:200]}")
            time.sleep(0.2)

    def cancel_some_waiting(self, deadline: float) -> None:
        while time.monotonic() < deadline and not self.done.is_set():
            with self.lock:
                pick = self.rng.choice(self.tickets) if self.tickets else None
            if pick is not None:
                self.api.post(f"/tickets/{pick}/cancel")  # 409 when it has ended already
            time.sleep(0.5)

    def shuffle_agents(self, deadline: float) -> None:
        """Agents go away and come back, and change capacity, while tickets flow."""
        while time.monotonic() < deadline and not self.done.is_set():
            agent = self.rng.choice(self.agents)
            body: dict[str, Any] = {"status": self.rng.choice(("away", "available", "available"))}
            if self.rng.random() < 0.3:
                text = agent["channels"]["text"]["capacity"]
                body["channels"] = {"text": {"capacity": max(text + self.rng.choice((-1, 1)), 0)}}
            reply = self.api.call("PATCH", f"/agents/{agent['id']}", body)
            if reply.status not in (200, 409):
                self.errors.append(f"PATCH agent {reply.status} {reply.text[:200]}")
            time.sleep(0.3)

    def _agents(self) -> list[dict[str, Any]]:
        reply = self.api.get("/agents?limit=500")
        return list(reply.json["items"]) if reply.status == 200 else []

    def all_available(self) -> None:
        """Everyone back, with the capacities they started with, so every ticket can be served."""
        for agent in self.agents:
            capacities = {c: {"capacity": v["capacity"]} for c, v in agent["channels"].items()}
            body = {"status": "available", "channels": capacities}
            for _ in range(50):  # 409 while more chats are active than the old capacity
                if self.api.call("PATCH", f"/agents/{agent['id']}", body).status == 200:
                    break
                time.sleep(0.2)


def snapshot(api: Api) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    agents: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api.get(f"/agents?limit=500&cursor={cursor}").json
        agents += page["items"]
        cursor = page["next"] or ""
        if not cursor:
            break
    tickets: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api.get(f"/tickets?limit=500&cursor={cursor}").json
        tickets += page["items"]
        cursor = page["next"] or ""
        if not cursor:
            break
    return agents, tickets


def _is_assigned(api: Api, ticket_id: str) -> bool:
    return api.get(f"/tickets/{ticket_id}").json["status"] == "assigned"


def plant_crashes(api: Api, store: TicketStore, hammer: Hammer) -> list[dict[str, Any]]:
    """Crash at both two-document steps, deterministically, by doing only the first half.

    A: capacity reserved for a ticket, then the "worker" dies before the ticket is committed.
    B: a ticket completed, then the "web replica" dies before the agent's capacity is released.
    """
    planted = []
    for case in ("reserved-not-committed", "ended-not-released"):
        own = f"crash-{case}-{uuid.uuid4().hex[:4]}"
        reply = api.post(
            "/agents",
            {
                "name": case,
                "skills": [own],
                "channels": {"voice": {"capacity": 1}},
                "status": "away",
            },
        )
        agent = reply.json
        planted.append(agent)
        # Priority 9: the planted agent may also take the hammer's tickets that ask for no
        # skill, and by the waiting order a lower-priority ticket waits behind those.
        ticket = api.post("/tickets", {"channel": "voice", "skills": [own], "priority": 9}).json
        if case == "reserved-not-committed":
            # Straight in the database: no pull is published for this change.
            store.agents.update_one({"_id": agent["id"]}, {"$set": {"status": "available"}})
            doc = store.get_ticket(ticket["id"])
            assert doc is not None
            store.reserve(agent["id"], doc)  # ...and nothing more
        else:
            api.call("PATCH", f"/agents/{agent['id']}", {"status": "available"})
            wait_for(
                functools.partial(_is_assigned, api, ticket["id"]),
                120,
                "the planted ticket to be assigned",
            )
            store.finish(ticket["id"], TicketStatus.ASSIGNED, TicketStatus.COMPLETED)
        # Only now may the hammer's completers see it: one that completed it first (through the
        # API, which releases) would leave no crash to repair.
        with hammer.lock:
            hammer.tickets.append(ticket["id"])
    return planted


def test_invariants_hold_under_load_races_and_crashes(
    api: Api, store: TicketStore, extra_workers: list[subprocess.Popen[bytes]]
) -> None:
    hammer = Hammer(api, random.Random(7))
    hammer.create_agents()
    deadline = time.monotonic() + TICKETS / RATE + 60
    racers = [
        threading.Thread(target=hammer.finish_assigned, args=(deadline,)),
        threading.Thread(target=hammer.finish_assigned, args=(deadline,)),
        threading.Thread(target=hammer.cancel_some_waiting, args=(deadline,)),
        threading.Thread(target=hammer.answer_offers, args=(deadline,)),
        threading.Thread(target=hammer.shuffle_agents, args=(deadline,)),
    ]
    producer = threading.Thread(target=hammer.produce)
    producer.start()
    for thread in racers:
        thread.start()

    try:
        # Mid-stream: one worker dies without a chance to clean up, and crashes are planted.
        wait_for(lambda: len(hammer.tickets) >= TICKETS // 3, 60, "a third of the tickets")
        victim = extra_workers[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        planted = plant_crashes(api, store, hammer)
        producer.join(TICKETS / RATE + 60)
    except BaseException:
        # Stop the racing threads too, so none outlives the test.
        hammer.done.set()
        raise
    # Stop shuffling, bring everyone back, and let the completers drain what is assigned.
    hammer.done.set()
    for thread in racers:
        thread.join(30)
    hammer.all_available()
    hammer.done.clear()
    drain_until = time.monotonic() + SETTLE_TIMEOUT
    drainers = [
        threading.Thread(target=hammer.finish_assigned, args=(drain_until,)),
        threading.Thread(target=hammer.answer_offers, args=(drain_until, 0.0, 0.0)),
    ]
    for drainer in drainers:
        drainer.start()

    def settled() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        agents, tickets = snapshot(api)
        ours = [t for t in tickets if t["id"] in set(hammer.tickets)]
        ended = (TicketStatus.COMPLETED, TicketStatus.CANCELLED)
        open_ = [t for t in ours if t["status"] not in ended]
        if open_ or check(agents, tickets, settled=True):
            return None
        return agents, tickets

    try:
        agents, tickets = wait_for(settled, SETTLE_TIMEOUT, "every ticket ended, the data settled")
    finally:
        hammer.done.set()
        for drainer in drainers:
            drainer.join(30)
        for agent in hammer.agents + planted:
            api.call("PATCH", f"/agents/{agent['id']}", {"status": "offline"})

    assert hammer.errors == []
    assert check(agents, tickets, settled=True) == []
    ours = {t["id"]: t for t in tickets if t["id"] in set(hammer.tickets)}
    assert len(ours) == len(hammer.tickets) >= TICKETS
    assert {t["status"] for t in ours.values()} <= {"completed", "cancelled"}
    assert all(t["agent_id"] for t in ours.values() if t["status"] == "completed")
