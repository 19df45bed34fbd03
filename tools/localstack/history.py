"""Realistic finished history, written straight into a stack's database, fast.

A job system that has run for a while holds far more finished work than work in flight; the
benchmarks and the drills seed this history first so that whatever grows with it shows. Every
document starts from the store's own constructor (`new_job`, `new_agent`, `new_ticket`), then gets
the fields the code sets when the work finishes, so the shape stays what the code writes.

The mix, fixed by a seeded random generator so that runs compare:
- jobs: 94% `succeeded` (2% after one retry), 4% `failed` (attempts exhausted, one error per
  attempt), 2% `cancelled` (half before they started); types `event` 50%, `word_count` 20%,
  `noop` 20%, `sleep` 10%; created over the last 6 days, inside the default 7-day retention
  (so the server's TTL monitor deletes none of it during the run), with `_id`s whose timestamps
  follow `created_at`, so that pages by `_id` meet the history where they would in a live system
  (behind the newest work).
- agents: a roster of which 3% are `available` (a few hundred of 10,000: the night shift of a
  contact centre; each one is in-flight capacity the assignment queries must look at, so a
  larger share would measure a busier centre rather than a longer history), 12% `away` and 85%
  `offline`; 1-4 skills of 12, voice capacity 1 and text capacity 1-4, no tickets held.
- tickets: 92% `completed` by one of the agents, 8% `cancelled` (a third of them after
  assignment); 40% voice, 60% text.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.core import clock, jsonfield
from services.core.documents import Doc
from services.core.jobs.document import JobDoc
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.tickets.holds import new_hold
from services.core.tickets.states import AgentStatus, Channel, TicketStatus
from services.core.tickets.store import new_agent, new_ticket

ProgressFn = Callable[[str, int, int], None]

BATCH = 5000
# Batches in flight at once: the database works on one while Python builds the next.
IN_FLIGHT = 3
# Below this many documents in all, seeding takes seconds and a progress bar is noise.
PROGRESS_FROM = 50_000
SPAN = timedelta(days=6)
SEED = 12

SKILLS = (
    "billing", "refunds", "shipping", "returns", "technical", "accounts",
    "english", "spanish", "french", "german", "vip", "fraud",
)  # fmt: skip
WORKERS = tuple(f"worker-{h}:{pid}" for h in (1, 2, 3, 4) for pid in (101, 102))
WORDS = (
    "to", "be", "or", "not", "to", "be", "that", "is", "the", "question",
    "whether", "tis", "nobler", "in", "the", "mind",
)  # fmt: skip


def seed_history(
    db: Database,
    jobs: int,
    agents: int,
    tickets: int,
    progress: ProgressFn | None = None,
) -> None:
    """Insert `jobs` finished jobs, `agents` agents and `tickets` finished tickets into `db`.

    `progress(collection, done, total)` is called as each batch goes to the database; without
    one, a progress bar is drawn on the terminal when there are many documents to write.
    Several calls on one database add up: the same mix again, with fresh ids.
    """
    if progress is None and jobs + agents + tickets >= PROGRESS_FROM:
        with _RichBar() as bar:
            seed_history(db, jobs, agents, tickets, bar)
        return
    rand = random.Random(SEED)
    now = clock.now()
    agent_docs = [_agent(rand, now) for _ in range(agents)]
    _insert(db, "agents", iter(agent_docs), agents, progress)
    agent_ids = [a["_id"] for a in agent_docs]
    finished: Counter[tuple[str, str]] = Counter()
    job_docs = (_counted(_job(rand, now), finished) for _ in range(jobs))
    _insert(db, "jobs", job_docs, jobs, progress)
    # /stats reads finished jobs from the store's counters: they must count the history too.
    store = JobStore(db)
    for (type_, status), n in finished.items():
        store.count_finished(type_, status, n)
    _insert(
        db, "tickets", (_ticket(rand, now, agent_ids) for _ in range(tickets)), tickets, progress
    )


class _RichBar:
    """A progress callback drawing one rich bar per collection."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("seeding {task.description:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _RichBar:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def __call__(self, collection: str, done: int, total: int) -> None:
        if collection not in self.tasks:
            self.tasks[collection] = self.progress.add_task(collection, total=total)
        self.progress.update(self.tasks[collection], completed=done)


def _insert(
    db: Database,
    name: str,
    docs: Iterator[Mapping[str, Any]],
    total: int,
    progress: ProgressFn | None,
) -> None:
    """Unordered `insert_many` of BATCH documents at a time, a few batches in flight."""
    coll = db[name]
    done = 0
    pending: list[Future[Any]] = []
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        while True:
            batch = [doc for _, doc in zip(range(BATCH), docs, strict=False)]
            if not batch:
                break
            if len(pending) >= IN_FLIGHT:
                pending.pop(0).result()
            pending.append(pool.submit(coll.insert_many, batch, ordered=False))
            done += len(batch)
            # Counted when handed over: at most IN_FLIGHT batches ahead of the database.
            if progress is not None:
                progress(name, done, total)
        for future in pending:
            future.result()
    if progress is not None and total == 0:
        progress(name, 0, 0)


def _counted(doc: JobDoc, counts: Counter[tuple[str, str]]) -> JobDoc:
    counts[doc["type"], doc["status"]] += 1
    return doc


def _id_at(t: datetime) -> str:
    """A fresh ObjectId whose timestamp is `t`, as if the document had been made then."""
    return str(ObjectId(int(t.timestamp()).to_bytes(4, "big") + ObjectId().binary[4:]))


def _ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _after(t: datetime, rand: random.Random, low: float, high: float) -> datetime:
    return _ms(t + timedelta(seconds=rand.uniform(low, high)))


def _payload_and_result(rand: random.Random, type_: str) -> tuple[Any, Any]:
    if type_ == "event":
        user, event_type = rand.randrange(1, 50_000), rand.randrange(1, 40)
        data = {"page": f"/p/{rand.randrange(500)}", "ms": rand.randrange(10, 4000)}
        payload = {"user_id": user, "event_type_id": event_type, "event_data": data}
        return payload, {"user_id": user, "event_type_id": event_type, "handled": True}
    if type_ == "word_count":
        words = rand.choices(WORDS, k=rand.randrange(5, 60))
        counts: dict[str, int] = {}
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        result = {"total_words": len(words), "distinct_words": len(counts), "counts": counts}
        return {"text": " ".join(words)}, result
    if type_ == "sleep":
        seconds = rand.choice((0.1, 0.5, 1, 2))
        return {"seconds": seconds}, {"slept": seconds, "attempt": 1}
    return {}, None


def _job(rand: random.Random, now: datetime) -> JobDoc:
    type_ = rand.choices(("event", "word_count", "noop", "sleep"), (50, 20, 20, 10))[0]
    payload, result = _payload_and_result(rand, type_)
    max_attempts = 3
    doc = new_job(type_, payload, rand.choice((0, 5, 5, 5, 9)), max_attempts)
    created = _ms(now - SPAN * rand.random())
    doc["_id"] = _id_at(created)
    queued = _after(created, rand, 0.002, 0.05)
    doc.update({"created_at": created, "queued_at": queued, "updated_at": queued})
    roll = rand.random()
    if roll < 0.01:  # cancelled before any worker took it
        finished = _after(queued, rand, 0.1, 60)
        doc.update(
            {
                "status": JobStatus.CANCELLED.value,
                "cancel_requested": True,
                "finished_at": finished,
                "expires_at": finished,
                "updated_at": finished,
            }
        )
        return doc
    if roll < 0.05:  # failed: every attempt ended in an error
        status, failed_attempts = JobStatus.FAILED, max_attempts
    elif roll < 0.06:  # cancelled while it ran: the handler stopped at its next check
        status, failed_attempts = JobStatus.CANCELLED, 0
        result = None
        doc["cancel_requested"] = True
    elif roll < 0.08:  # succeeded after one retry
        status, failed_attempts = JobStatus.SUCCEEDED, 1
    else:
        status, failed_attempts = JobStatus.SUCCEEDED, 0
    attempts = max_attempts if status == JobStatus.FAILED else failed_attempts + 1
    started = _after(queued, rand, 0.005, 2)
    errors: list[Doc] = []
    for attempt in range(1, failed_attempts + 1):
        ended = _after(started, rand, 0.01, 0.5)
        errors.append({"attempt": attempt, "error": "TimeoutError: upstream", "at": ended})
        if attempt < attempts:
            doc["retry_at"] = _after(ended, rand, 1, 30)  # the backoff before the next attempt
            started = _after(doc["retry_at"], rand, 0.005, 0.5)
    if status == JobStatus.FAILED:
        result, finished = None, errors[-1]["at"]
    else:
        finished = _after(started, rand, 0.001, 3 if type_ == "sleep" else 1.5)
    doc.update(
        {
            "status": status.value,
            "attempts": attempts,
            "result": None if result is None else jsonfield.dump(result),
            "error": errors[-1]["error"] if status == JobStatus.FAILED else None,
            "errors": errors,
            "run_id": os.urandom(16).hex(),
            "worker": rand.choice(WORKERS),
            "started_at": started,
            "heartbeat_at": started,
            "finished_at": finished,
            "expires_at": None if status == JobStatus.FAILED else finished,
            "updated_at": finished,
        }
    )
    return doc


def _agent(rand: random.Random, now: datetime) -> Doc:
    roll = rand.random()
    status = (
        AgentStatus.AVAILABLE
        if roll < 0.03
        else AgentStatus.AWAY
        if roll < 0.15
        else AgentStatus.OFFLINE
    )
    skills = rand.sample(SKILLS, rand.randrange(1, 5))
    capacities = {Channel.VOICE.value: 1, Channel.TEXT.value: rand.randrange(1, 5)}
    created = _ms(now - SPAN * rand.random())
    agent_id = _id_at(created)
    # Named after the id, so that seeding twice into one database makes no namesakes.
    doc = new_agent(f"agent {agent_id[-6:]}", skills, capacities, status.value)
    doc.update(
        _id=agent_id,
        created_at=created,
        assigned_total=rand.randrange(0, 200),
        last_freed_at=_after(created, rand, 0, (now - created).total_seconds()),
    )
    doc["updated_at"] = doc["last_freed_at"]
    return doc


def _ticket(rand: random.Random, now: datetime, agent_ids: list[str]) -> Doc:
    channel = Channel.VOICE if rand.random() < 0.4 else Channel.TEXT
    skills = rand.sample(SKILLS, rand.randrange(0, 3))
    data = {"customer": rand.randrange(1, 200_000), "subject": rand.choice(WORDS)}
    doc = new_ticket(channel.value, skills, rand.choice((0, 0, 0, 5, 9)), data)
    created = _ms(now - SPAN * rand.random())
    doc.update(_id=_id_at(created), created_at=created, updated_at=created)
    roll = rand.random()
    if roll < 0.053 or not agent_ids:  # cancelled while it waited: no agent ever had it
        cancelled = _after(created, rand, 1, 600)
        doc.update(
            status=TicketStatus.CANCELLED.value, cancelled_at=cancelled, updated_at=cancelled
        )
        return doc
    assigned = _after(created, rand, 0.05, 120)
    agent_id = rand.choice(agent_ids)
    ended = _after(assigned, rand, 30, 1800)
    doc.update(
        agent_id=agent_id,
        hold=str(new_hold(doc["_id"], channel.value, assigned)),
        assigned_at=assigned,
        updated_at=ended,
    )
    if roll < 0.08:
        doc.update(status=TicketStatus.CANCELLED.value, cancelled_at=ended)
    else:
        doc.update(status=TicketStatus.COMPLETED.value, completed_at=ended)
    return doc
