"""Running a simulation: agents, a paced stream of tickets, completions after handle times.

Threads: the caller paces new tickets; a watcher reads the agents every half second to find
tickets newly assigned to them (and samples occupancy and the live invariants); a scheduler
completes each ticket when its handle time is up. All HTTP goes through one bounded pool.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.core.documents import Doc
from tools.oracles import ticket_invariants as invariants
from tools.simulator.client import Client
from tools.simulator.plan import Options, agent_body, ticket_body

POLL_SECONDS = 0.5
# A ticket an agent holds but whose assignment is not recorded yet is tried again after this.
RECHECK_SECONDS = 0.3
SETTLE_SECONDS = 90.0


@dataclass
class Tally:
    """What the run has seen; guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: dict[str, float] = field(default_factory=dict)
    held_by: dict[str, str] = field(default_factory=dict)  # ticket → agent seen holding it
    done: dict[str, Doc] = field(default_factory=dict)  # ticket → its final state
    due: list[tuple[float, str]] = field(default_factory=list)  # heap of completions
    occupancy: list[dict[str, float]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)


class Simulation:
    def __init__(self, client: Client, options: Options, console: Console) -> None:
        self.client, self.o, self.console = client, options, console
        self.rng = random.Random(options.seed)
        self.run_id = uuid.uuid4().hex[:6]
        self.tally = Tally()
        self.agents: list[Doc] = []
        self.agent_ids: set[str] = set()
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=options.threads, thread_name_prefix="sim")
        # Bounds the requests queued in the pool, so a slow server slows the run down instead.
        self.slots = threading.BoundedSemaphore(options.threads * 4)

    # -- requests through the pool ----------------------------------------------------------------

    def _submit(self, fn: Callable[[], None]) -> Future[None]:
        self.slots.acquire()

        def run() -> None:
            try:
                fn()
            except Exception as exc:  # reported at the end; the run goes on
                with self.tally.lock:
                    self.tally.http_errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.slots.release()

        return self.pool.submit(run)

    def _error(self, what: str, status: int, body: Any) -> None:
        with self.tally.lock:
            self.tally.http_errors.append(f"{what}: {status} {str(body)[:200]}")

    # -- phases -----------------------------------------------------------------------------------

    def create_agents(self) -> None:
        bodies = [agent_body(self.rng, i, self.o.skills, self.run_id) for i in range(self.o.agents)]
        replies = list(self.pool.map(lambda b: self.client.post("/agents", b), bodies))
        for reply in replies:
            if reply.status != 201:
                raise SystemExit(f"could not create an agent: {reply.status} {reply.body}")
            self.agents.append(reply.body)
        self.agent_ids = {a["id"] for a in self.agents}

    def _create_ticket(self, body: Doc) -> None:
        reply = self.client.post("/tickets", body)
        if reply.status != 202:
            self._error("POST /tickets", reply.status, reply.body)
            return
        with self.tally.lock:
            self.tally.created[reply.body["id"]] = time.monotonic()

    def _complete(self, ticket_id: str) -> None:
        reply = self.client.post(f"/tickets/{ticket_id}/complete")
        if reply.status == 200:
            with self.tally.lock:
                self.tally.done[ticket_id] = reply.body
            return
        current = reply.body.get("ticket", {}) if isinstance(reply.body, dict) else {}
        if reply.status == 409 and current.get("status") == "waiting":
            # Held by an agent but not yet recorded as assigned: a reservation in flight.
            with self.tally.lock:
                heapq.heappush(self.tally.due, (time.monotonic() + RECHECK_SECONDS, ticket_id))
            return
        self._error(f"complete {ticket_id}", reply.status, reply.body)

    def _cancel(self, ticket_id: str) -> None:
        reply = self.client.post(f"/tickets/{ticket_id}/cancel")
        body = reply.body if reply.status == 200 else (reply.body or {}).get("ticket")
        if reply.status in (200, 409) and body:
            with self.tally.lock:
                self.tally.done[ticket_id] = body
        else:
            self._error(f"cancel {ticket_id}", reply.status, reply.body)

    def all_agents(self) -> list[Doc]:
        found: list[Doc] = []
        cursor = ""
        for _ in range(1000):
            reply = self.client.get(f"/agents?limit=500&cursor={cursor}")
            if reply.status != 200:
                self._error("GET /agents", reply.status, reply.body)
                return found
            found += reply.body["items"]
            cursor = reply.body["next"] or ""
            if not cursor:
                break
        return found

    def _watch(self) -> None:
        handle_low, handle_high = self.o.handle
        while not self.stop.wait(POLL_SECONDS):
            agents = self.all_agents()
            live = invariants.check(agents, [], settled=False)
            now = time.monotonic()
            with self.tally.lock:
                self.tally.violations += [str(v) for v in live]
                self.tally.occupancy.append(
                    _occupancy([a for a in agents if a["id"] in self.agent_ids])
                )
                for agent in agents:
                    for ticket_id in agent["tickets"]:
                        if ticket_id in self.tally.created and ticket_id not in self.tally.held_by:
                            self.tally.held_by[ticket_id] = agent["id"]
                            due = now + self.rng.uniform(handle_low, handle_high)
                            heapq.heappush(self.tally.due, (due, ticket_id))

    def _complete_when_due(self) -> None:
        while not self.stop.wait(0.05):
            now = time.monotonic()
            ready: list[str] = []
            with self.tally.lock:
                while self.tally.due and self.tally.due[0][0] <= now:
                    ready.append(heapq.heappop(self.tally.due)[1])
            for ticket_id in ready:
                self._submit(lambda t=ticket_id: self._complete(t))  # type: ignore[misc]

    def stream(self, progress: Progress) -> None:
        created = progress.add_task("tickets created", total=self.o.tickets, info="")
        finished = progress.add_task("tickets finished", total=self.o.tickets, info="")
        threads = [
            threading.Thread(target=self._watch, name="watch", daemon=True),
            threading.Thread(target=self._complete_when_due, name="complete", daemon=True),
        ]
        for thread in threads:
            thread.start()
        start = time.monotonic()
        deadline = start + self.o.duration
        sent = 0
        while time.monotonic() < deadline:
            due = start + sent / self.o.rate
            while sent < self.o.tickets and due <= time.monotonic():
                body = ticket_body(self.rng, self.agents, sent, self.run_id)
                self._submit(lambda b=body: self._create_ticket(b))  # type: ignore[misc]
                sent += 1
                due = start + sent / self.o.rate
            with self.tally.lock:
                n_created, n_done = len(self.tally.created), len(self.tally.done)
                info = _live_info(self.tally)
            progress.update(created, completed=n_created, info=info)
            progress.update(finished, completed=n_done)
            if sent >= self.o.tickets and n_done >= n_created and self.slots_idle():
                break
            time.sleep(0.1)
        self.stop.set()
        for thread in threads:
            thread.join()
        self.drain()
        self.cancel_the_rest()
        self.drain()
        with self.tally.lock:
            progress.update(finished, completed=len(self.tally.done))

    def slots_idle(self) -> bool:
        if not self.slots.acquire(blocking=False):
            return False
        self.slots.release()
        with self.tally.lock:
            return not self.tally.due

    def drain(self) -> None:
        """Wait for the requests already queued in the pool."""
        for _ in range(self.o.threads * 4):
            self.slots.acquire()
        for _ in range(self.o.threads * 4):
            self.slots.release()

    def cancel_the_rest(self) -> None:
        with self.tally.lock:
            left = [t for t in self.tally.created if t not in self.tally.done]
        for ticket_id in left:
            self._submit(lambda t=ticket_id: self._cancel(t))  # type: ignore[misc]

    def settle(self) -> tuple[list[Doc], list[Doc]]:
        """Wait (bounded) until no agent holds one of our tickets; the final agents and tickets."""
        deadline = time.monotonic() + SETTLE_SECONDS
        agents = self.all_agents()
        while time.monotonic() < deadline:
            with self.tally.lock:
                ours = set(self.tally.created)
            if not any(t in ours for a in agents for t in a["tickets"]):
                break
            time.sleep(1)
            agents = self.all_agents()
        with self.tally.lock:
            tickets = list(self.tally.done.values())
        return agents, tickets

    def retire_agents(self) -> None:
        for agent_id in sorted(self.agent_ids):
            self._submit(lambda a=agent_id: self._retire(a))  # type: ignore[misc]
        self.drain()

    def _retire(self, agent_id: str) -> None:
        reply = self.client.patch(f"/agents/{agent_id}", {"status": "offline"})
        if reply.status != 200:
            self._error(f"retire {agent_id}", reply.status, reply.body)


def _occupancy(agents: list[Doc]) -> dict[str, float]:
    result: dict[str, float] = {}
    for channel in ("voice", "text"):
        capacity = sum(a["channels"][channel]["capacity"] for a in agents)
        active = sum(a["channels"][channel]["active"] for a in agents)
        if capacity:
            result[channel] = active / capacity
    return result


def _live_info(t: Tally) -> str:
    held = len(t.held_by) - len(t.done)
    waiting = len(t.created) - len(t.held_by)
    occ = t.occupancy[-1] if t.occupancy else {}
    shown = " ".join(f"{c} {v:.0%}" for c, v in occ.items())
    bad = len(t.violations)
    return f"waiting {waiting}  with agents {max(held, 0)}  occupancy {shown}  violations {bad}"


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def run(client: Client, options: Options, console: Console) -> Doc:
    """The whole simulation; the report as data."""
    sim = Simulation(client, options, console)
    console.print(f"simulation {sim.run_id}: creating {options.agents} agents")
    sim.create_agents()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        sim.stream(progress)
    elapsed = time.monotonic() - started
    agents, tickets = sim.settle()
    # Judge this run's agents: others (an earlier run's, a person's) hold tickets we never saw.
    ours = [a for a in agents if a["id"] in sim.agent_ids]
    final = invariants.check(ours, tickets, settled=True)
    server_stats = client.get("/tickets/stats").body
    sim.retire_agents()
    sim.pool.shutdown(wait=True)
    from tools.simulator.report import build

    return build(sim.tally, ours, tickets, final, elapsed, options, server_stats)
