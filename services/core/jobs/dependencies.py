"""Job dependencies: a job that names parents (`depends_on`) is `blocked` until all succeed.

On the child: `depends_on`, every parent's id, for good; status `blocked` until it is settled;
`timeline`, where each move made by a parent is noted (blocked, released, cancelled).
On a parent: `dependants: true` from the first submit of a child that waits on it until the
sweep has settled it once more after it ended.

Settling a parent that ended reads its blocked children through the partial index
`blocked_by_parent` (`depends_on`, blocked jobs only) and then their parents' statuses by `_id`:
a child whose parents all succeeded is released (to `pending`, or `scheduled` when its `run_at` is
still ahead) and published like any pending job (`dispatch.relay`: publish, then mark queued; one
left pending is published by the relay); a child with a parent failed for good or cancelled is
cancelled, naming that parent, and its own children after it. Every move is a conditional update
from `blocked`, so of two settlers only one moves each child, and the other publishes nothing.

Nothing is stranded by a process that dies on the way:
- a submit flags the parents (`dependants`) before it records the child, and reads the parents
  again once the child is recorded, so a parent that ended in between is seen by one side or
  the other;
- a worker that dies between a parent's end and its settling leaves the parent flagged: the
  sweep (`sweep`, partial index `dependants_by_finished_at`) settles every flagged parent that
  ended more than DEPENDENCY_GRACE ago, then clears its flag. It reads only flagged parents, so
  its cost follows the jobs that have children in flight, not history.

Cycles cannot be made: a parent must exist before its child is submitted, and in a batch a job
may name by index only jobs before it.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from services.core import clock, jsonfield
from services.core.config import Settings
from services.core.documents import Doc
from services.core.errors import BrokerUnavailable, Conflict, InvalidRequest, NotFound
from services.core.jobs import dispatch
from services.core.jobs.document import JobDoc
from services.core.jobs.publisher import Publisher
from services.core.jobs.states import FINISHED, PARENT_ENDED_BADLY, JobStatus
from services.core.jobs.store import JobStore

log = logging.getLogger(__name__)
MAX_PARENTS = 100
TIMELINE_KEPT = 50
# What a parent's sweep reads at most per run; the rest wait for the next one.
SWEEP_BATCH = 200
_BLOCKED = JobStatus.BLOCKED.value
_ENDED_BADLY = frozenset(s.value for s in PARENT_ENDED_BADLY)
_SUCCEEDED = JobStatus.SUCCEEDED.value


class UnknownParent(NotFound):
    """A parent named by id that does not exist (or this key may not see), or an index that
    names no earlier job of the batch."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class ParentEnded(Conflict):
    """A parent named by id has already failed or been cancelled: the child could never run."""

    def __init__(self, field: str, parent: str, status: str) -> None:
        super().__init__(
            f"{field}: parent job {parent} is {status}; retry it first, or submit without it",
            field=field,
            parent=parent,
        )


# -- submit: who the parents are ------------------------------------------------------------------


def check_single(indexes: list[int] | None) -> None:
    """A job submitted alone has no batch for `depends_on_index` to name jobs of."""
    if indexes:
        raise InvalidRequest(
            "depends_on_index: names jobs of the same batch: only in POST /jobs/batch",
            field="depends_on_index",
        )


def check_indexes(references: Iterable[list[int]], prefix: str = "jobs.") -> None:
    """Each job of a batch may name by index only the jobs before it: so no cycle can exist."""
    for position, indexes in enumerate(references):
        for n, index in enumerate(indexes):
            if index >= position:
                where = f"{prefix}{position}.depends_on_index.{n}"
                raise UnknownParent(
                    where,
                    f"no job at index {index} before this one (a job may depend only on "
                    "earlier jobs of its batch)",
                )


def look_up(
    store: JobStore, named: list[tuple[str, str]], visible: Callable[[JobDoc], bool]
) -> dict[str, str]:
    """Each parent's status, by id, from `(field, id)` pairs: one read for all of them.

    UnknownParent for an id with no job this key may see; ParentEnded for one failed or
    cancelled (answered 409: nothing is recorded).
    """
    ids = list({job_id for _, job_id in named})
    if not ids:
        return {}
    found = {
        doc["_id"]: doc
        for doc in store.jobs.find({"_id": {"$in": ids}}, {"status": 1, "submitted_by": 1})
    }
    for where, job_id in named:
        doc = found.get(job_id)
        if doc is None or not visible(doc):
            raise UnknownParent(where, f"no job {job_id}")
        if doc["status"] in _ENDED_BADLY:
            raise ParentEnded(where, job_id, doc["status"])
    return {job_id: doc["status"] for job_id, doc in found.items()}


def fields_named(depends_on: list[list[str]], prefix: str = "") -> list[tuple[str, str]]:
    """`(field, id)` for every parent id the jobs name, `prefix` leading each job's fields."""
    return [
        (f"{prefix}{i}.depends_on.{n}" if prefix else f"depends_on.{n}", job_id)
        for i, ids in enumerate(depends_on)
        for n, job_id in enumerate(ids)
    ]


def waits(parent_ids: Iterable[str], statuses: dict[str, str]) -> bool:
    """Whether a job with these parents would wait: one of them has not succeeded yet."""
    return any(statuses.get(p) != _SUCCEEDED for p in parent_ids)


# -- submit: the child's record ------------------------------------------------------------------


def _entry(event: str, parent: str | None, detail: str, at: datetime | None = None) -> Doc:
    return {"at": at or clock.now(), "event": event, "parent": parent, "detail": detail}


def attach(doc: JobDoc, parent_ids: list[str], statuses: dict[str, str]) -> None:
    """Record the parents on a new job: `blocked` while one of them has not succeeded (or is
    new in this batch); else it goes as it would have without them, the fact noted."""
    if not parent_ids:
        return
    doc["depends_on"] = parent_ids
    if waits(parent_ids, statuses):
        doc["status"] = _BLOCKED
        waiting = [p for p in parent_ids if statuses.get(p) != _SUCCEEDED]
        detail = f"waiting for {len(waiting)} of {len(parent_ids)} parents"
        doc["timeline"] = [_entry("blocked", None, detail, doc["created_at"])]
    else:
        detail = "every parent had already succeeded"
        doc["timeline"] = [_entry("released", None, detail, doc["created_at"])]


def flag_parents(store: JobStore, docs: list[JobDoc]) -> None:
    """Before the docs are recorded: mark each parent a blocked one waits on, so that the parent's
    end settles it (one write for the parents already recorded; new ones carry the mark)."""
    waited = {p for doc in docs if doc["status"] == _BLOCKED for p in doc["depends_on"]}
    for doc in docs:
        if doc["_id"] in waited:
            doc["dependants"] = True
    recorded = list(waited - {doc["_id"] for doc in docs})
    if recorded:
        store.jobs.update_many({"_id": {"$in": recorded}}, {"$set": {"dependants": True}})


def recheck(store: JobStore, publisher: Publisher | None, s: Settings, docs: list[JobDoc]) -> None:
    """After the docs are recorded: settle those still blocked against their parents as they
    are now, in case one ended between the look-up and the record. Updates the docs in place."""
    blocked = [doc for doc in docs if doc["status"] == _BLOCKED]
    if not blocked:
        return
    moved = _decide(store, publisher, s, blocked, cause=None)
    if moved.count:
        now = {d["_id"]: d for d in store.jobs.find({"_id": {"$in": [d["_id"] for d in blocked]}})}
        for doc in blocked:
            doc.update(now.get(doc["_id"], {}))


# -- a parent ended: settle its children -----------------------------------------------------------


@dataclass
class Settled:
    released: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.released) + len(self.cancelled)

    def add(self, other: Settled) -> None:
        self.released += other.released
        self.cancelled += other.cancelled


def settle(
    store: JobStore, publisher: Publisher | None, s: Settings, parent_ids: list[str]
) -> Settled:
    """Release or cancel the blocked children of parents that ended; cancellations cascade to
    the children's own children. Safe to repeat: only blocked children move."""
    settled = Settled()
    ended = list(parent_ids)
    while ended:
        children = list(
            store.jobs.find(
                {"depends_on": {"$in": ended}, "status": _BLOCKED},
                {"depends_on": 1, "run_at": 1, "type": 1, "priority": 1},
            )
        )
        if not children:
            break
        step = _decide(store, publisher, s, children, cause=set(ended))
        settled.add(step)
        ended = step.cancelled
    return settled


def _decide(
    store: JobStore,
    publisher: Publisher | None,
    s: Settings,
    children: list[JobDoc],
    cause: set[str] | None,
) -> Settled:
    parents = list({p for child in children for p in child["depends_on"]})
    statuses = {
        doc["_id"]: doc["status"]
        for doc in store.jobs.find({"_id": {"$in": parents}}, {"status": 1})
    }
    ready: dict[str | None, list[JobDoc]] = defaultdict(list)
    doomed: dict[str, list[JobDoc]] = defaultdict(list)
    for child in children:
        verdict, parent = verdict_of(child["depends_on"], statuses)
        if verdict == "cancel" and parent is not None:
            doomed[parent].append(child)
        elif verdict == "release":
            ready[_cause_of(child, cause)].append(child)
    settled = Settled()
    for parent, group in ready.items():
        settled.released += _release(store, publisher, s, group, parent)
    for parent, group in doomed.items():
        settled.cancelled += _cancel(store, group, parent, statuses[parent])
    return settled


def verdict_of(parent_ids: list[str], statuses: dict[str, str]) -> tuple[str, str | None]:
    """`("cancel", parent)` when a parent failed or was cancelled; `("release", None)` when all
    succeeded; else `("wait", None)`. A parent gone from the database was deleted by retention,
    which only deletes succeeded and cancelled jobs, and a cancelled one would have cancelled
    its children when it ended: it counts as succeeded."""
    for parent in parent_ids:
        if statuses.get(parent) in _ENDED_BADLY:
            return "cancel", parent
    if all(statuses.get(p, _SUCCEEDED) == _SUCCEEDED for p in parent_ids):
        return "release", None
    return "wait", None


def _cause_of(child: JobDoc, ended: set[str] | None) -> str | None:
    if ended is None:
        return None
    return next((p for p in child["depends_on"] if p in ended), None)


def _moved(store: JobStore, ids: list[str], update: Doc, fields: Doc) -> list[JobDoc]:
    """Move the jobs still blocked, and return those this call moved (by a token it set): a
    settler that lost the race to another moves nothing, and so publishes nothing."""
    token = uuid.uuid4().hex
    update.setdefault("$set", {})["settled_by"] = token
    store.jobs.update_many({"_id": {"$in": ids}, "status": _BLOCKED}, update)
    return list(store.jobs.find({"_id": {"$in": ids}, "settled_by": token}, fields))


def _timeline(entry: Doc) -> Doc:
    return {"timeline": {"$each": [entry], "$slice": -TIMELINE_KEPT}}


def released_to(run_at: datetime | None, now: datetime) -> JobStatus:
    """A released job waits for its own start time, if it has one still ahead."""
    return JobStatus.SCHEDULED if run_at is not None and run_at > now else JobStatus.PENDING


def _release(
    store: JobStore,
    publisher: Publisher | None,
    s: Settings,
    children: list[JobDoc],
    cause: str | None,
) -> list[str]:
    t = clock.now()
    entry = _entry("released", cause, "every parent has succeeded", t)
    groups: dict[JobStatus, list[str]] = defaultdict(list)
    for child in children:
        groups[released_to(child.get("run_at"), t)].append(child["_id"])
    moved: list[JobDoc] = []
    for status, ids in groups.items():
        update = {"$set": {"status": status.value, "updated_at": t}, "$push": _timeline(entry)}
        moved += _moved(store, ids, update, {"priority": 1, "status": 1, "type": 1})
    due = [doc for doc in moved if doc["status"] == JobStatus.PENDING.value]
    if due and publisher is not None:
        # Not confirmed: left pending, the relay publishes them after OUTBOX_GRACE.
        dispatch.relay(store, due, publisher, s)
    return [doc["_id"] for doc in moved]


def _cancel(store: JobStore, children: list[JobDoc], parent: str, status: str) -> list[str]:
    t = clock.now()
    reason = f"parent job {parent} {status}"
    update = {
        "$set": {
            "status": JobStatus.CANCELLED.value,
            "error": reason,
            "finished_at": t,
            "expires_at": t,
            "updated_at": t,
            # Due from now, should it have a callback (`callbacks`).
            "callback_next_at": t,
        },
        "$push": _timeline(_entry("cancelled", parent, reason, t)),
    }
    moved = _moved(store, [c["_id"] for c in children], update, {"type": 1})
    for job_type, n in Counter(doc["type"] for doc in moved).items():
        store.count_finished(job_type, JobStatus.CANCELLED.value, n)
    return [doc["_id"] for doc in moved]


# -- where parents end -----------------------------------------------------------------------------


def on_ended(
    store: JobStore, publisher: Callable[[], Publisher] | None, s: Settings
) -> Callable[[list[str]], None]:
    """What a job store calls when jobs flagged as parents end (finished by a worker, or
    cancelled): settle them now. A failure here is logged, not raised: the outcome is recorded
    and the sweep settles the parent later."""

    def settle_now(parent_ids: list[str]) -> None:
        try:
            settle(store, publisher() if publisher else None, s, parent_ids)
        except (PyMongoError, BrokerUnavailable) as exc:
            log.warning("children of %s left to the sweep: %s", parent_ids, exc)

    return settle_now


def sweep(store: JobStore, publisher: Publisher | None, s: Settings, now: datetime) -> Settled:
    """Settle again the flagged parents that ended more than DEPENDENCY_GRACE ago, then clear
    their flags: repairs a settle that a dead process never made (partial index
    `dependants_by_finished_at`: flagged parents only)."""
    cutoff = now - timedelta(seconds=s.dependency_grace)
    found = store.jobs.find({"dependants": True, "finished_at": {"$lt": cutoff}}, {"_id": 1})
    ended = [doc["_id"] for doc in found.limit(SWEEP_BATCH)]
    if not ended:
        return Settled()
    settled = settle(store, publisher, s, ended)
    # Only if still ended: one retried by hand since keeps its flag for its next end.
    store.jobs.update_many(
        {"_id": {"$in": ended}, "status": {"$in": [f.value for f in FINISHED]}},
        {"$unset": {"dependants": ""}},
    )
    return settled


# -- the child's handler reads its parents' results ------------------------------------------------


def results_of(store: JobStore, parent_ids: list[str]) -> dict[str, Any]:
    """Each parent's result by id, in the order named; None for one retention has deleted."""
    if not parent_ids:
        return {}
    found = {
        doc["_id"]: jsonfield.load(doc.get("result"))
        for doc in store.jobs.find({"_id": {"$in": parent_ids}}, {"result": 1})
    }
    return {p: found.get(p) for p in parent_ids}
