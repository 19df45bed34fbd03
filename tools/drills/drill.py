"""One drill: clients submit as fast as the stack answers, one thing breaks and heals part way,
the load goes on until enough jobs have been accepted, then the database is audited against what
the clients were told.

Everything the audit reads is the drill's own: the accepted jobs by `_id`, one primary-key read
each, and the `tally` handler's execution ledger, emptied before the drill. No query touches the
history the database holds, so the audit costs the same on an empty database as on a full one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from services.core import jsonfield
from services.core.documents import Doc
from tools.drills.faults import Fault
from tools.drills.jobtypes import EXECUTIONS
from tools.drills.load import REFUSED, Load, Sent
from tools.localstack import backends
from tools.localstack.stack import LocalStack

FINISHED = ("succeeded", "failed", "cancelled")
# `tally` logs every execution of its handler in a side collection and returns the attempt that
# produced its result: the two facts that tell "executed twice" from "recorded twice".
JOB_TYPE, TOKEN_FIELD = "tally", "token"
# Throughput is "back to normal" in the first one-second window after the fault that reaches this
# share of the rate before it.
NORMAL_SHARE = 0.8
# The first second of load is connections opening and caches warming, not the steady rate.
WARMUP = 1.0
# Concurrent primary-key reads while auditing; the database serves them side by side.
READERS = 8
# A bound on the load whatever happens; a drill normally reaches its count much earlier.
MAX_LOAD_SECONDS = 1800.0


@dataclass(frozen=True)
class Scale:
    """How big a drill is: `jobs` accepted from `clients` concurrent clients, the fault once
    `fault_after` of them are in, a stopped service kept down `outage` seconds."""

    jobs: int = 10_000
    clients: int = 32
    fault_after: float = 0.3
    outage: float = 5.0
    drain_timeout: float = 600.0


def run(stack: LocalStack, fault: Fault, scale: Scale) -> dict[str, Any]:
    db = backends.database(stack.config)
    # The ledger holds earlier drills' executions only; emptied, it holds this drill's alone.
    db[EXECUTIONS].drop()
    load = Load(
        stack.config.base_url,
        stack.api_key(),
        JOB_TYPE,
        {},
        TOKEN_FIELD,
        target=scale.jobs,
        clients=scale.clients,
        seconds=MAX_LOAD_SECONDS,
    ).start()
    load.wait_accepted(int(scale.jobs * scale.fault_after))
    began_at = time.time()
    fault.inject(stack)
    down_at = time.time()
    time.sleep(scale.outage)
    fault.heal(stack)
    healed_at = time.time()
    load.wait()
    outcome = audit(db, load, scale.drain_timeout)
    timeline = Timeline(began_at, down_at, healed_at)
    return {
        "drill": fault.name,
        "fault": fault.title,
        **outcome.counts(load),
        **timeline.recovery(load.sent, outcome.finished_at),
        "drain_wait_s": round(outcome.waited, 1),
        "audit_s": round(outcome.read_s, 1),
    }


@dataclass
class Outcome:
    """What the database holds for one drill's load."""

    docs: dict[str, Doc]  # each accepted job's document, by id
    ledger: list[Doc]  # every execution of the drill's handler: job_id, attempt, token
    waited: float  # until every accepted job had finished, or the wait ran out
    read_s: float  # one read of every accepted job, plus the ledger

    @property
    def finished_at(self) -> list[tuple[str, float]]:
        return [
            (job_id, doc["finished_at"].timestamp())
            for job_id, doc in self.docs.items()
            if doc.get("status") == "succeeded" and doc.get("finished_at") is not None
        ]

    def counts(self, load: Load) -> dict[str, Any]:
        accepted = load.accepted()
        lost = [s.job_id for s in accepted if self._status(s.job_id) != "succeeded"]
        jobs_by_token: dict[str, set[str]] = {}
        for execution in self.ledger:
            jobs_by_token.setdefault(execution.get("token") or "", set()).add(execution["job_id"])
        sent_tokens = {s.token for s in load.sent}
        # One request recorded as two jobs: two job ids ran with the same token.
        duplicated = [t for t, ids in jobs_by_token.items() if t in sent_tokens and len(ids) > 1]
        # An outcome written by an attempt that no longer owned the job.
        stale = [
            job_id
            for job_id, doc in self.docs.items()
            if doc.get("status") == "succeeded" and _result_attempt(doc) != doc.get("attempts")
        ]
        runs = Counter(execution["job_id"] for execution in self.ledger)
        accepted_tokens = {s.token for s in accepted}
        errors = load.errors()
        return {
            "requests": len(load.sent),
            "accepted": len(accepted),
            "refused": errors.pop(str(REFUSED), 0),
            "client_errors": errors,
            "succeeded": len(accepted) - len(lost),
            "lost": len(lost),
            # What the first lost jobs look like, to tell a stuck job from a failed one.
            "lost_jobs": [
                {k: self.docs.get(i or "", {}).get(k) for k in ("status", "attempts", "error")}
                | {"id": i}
                for i in lost[:20]
            ],
            "recorded_twice": len(duplicated) + len(stale),
            "recorded_twice_detail": {
                "duplicate_jobs": duplicated[:20],
                "stale_outcome": stale[:20],
            },
            "executed_again": sum(1 for n in runs.values() if n > 1),
            "retried_attempts": sum(1 for d in self.docs.values() if d.get("attempts", 0) > 1),
            "recorded_without_202": sum(
                1 for t in jobs_by_token if t in sent_tokens and t not in accepted_tokens
            ),
            # Executions whose token no client of this drill sent: a job this drill did not ask
            # for, or one of an earlier drill running late. Expected 0.
            "unknown_executions": sum(
                len(ids) for t, ids in jobs_by_token.items() if t not in sent_tokens
            ),
        }

    def _status(self, job_id: str | None) -> str | None:
        return self.docs.get(job_id or "", {}).get("status")


def _result_attempt(doc: Doc) -> Any:
    result = jsonfield.load(doc.get("result"))
    return result.get("attempt") if isinstance(result, dict) else None


def audit(db: Database, load: Load, drain_timeout: float) -> Outcome:
    """Waits until every accepted job has finished (or the wait runs out), then reads them."""
    start = time.monotonic()
    docs: dict[str, Doc] = {}
    waiting = [s.job_id for s in load.accepted() if s.job_id]
    first_pass: float | None = None
    with ThreadPoolExecutor(READERS) as pool:
        while True:
            found = dict(zip(waiting, pool.map(lambda i: _read(db, i), waiting), strict=True))
            first_pass = time.monotonic() - start if first_pass is None else first_pass
            docs.update({i: d for i, d in found.items() if d is not None})
            waiting = [i for i, d in found.items() if d is None or d.get("status") not in FINISHED]
            if not waiting or time.monotonic() - start > drain_timeout:
                break
            time.sleep(1.0)
    waited = time.monotonic() - start
    ledger = list(db[EXECUTIONS].find({}, {"job_id": 1, "attempt": 1, "token": 1, "_id": 0}))
    return Outcome(docs, ledger, waited, first_pass + time.monotonic() - start - waited)


def _read(db: Database, job_id: str) -> Doc | None:
    # `_id` equality is the one read every backend answers from its primary key (FerretDB 1.24
    # on SQLite pushes nothing else down, not even an `_id` `$in`), so this never scans history.
    projection = {"status": 1, "attempts": 1, "result": 1, "finished_at": 1, "error": 1}
    return db["jobs"].find_one({"_id": job_id}, projection)


@dataclass(frozen=True)
class Timeline:
    """Wall-clock moments: the break step began, it returned (the thing is down: the fault, from
    which every recovery time is counted), and the heal step returned."""

    began_at: float
    down_at: float
    healed_at: float

    def recovery(self, sent: list[Sent], finished: list[tuple[str, float]]) -> dict[str, Any]:
        accepted_at = {s.job_id: s.answered for s in sent if s.status == 202 and s.job_id}
        accepted = sorted(accepted_at.values())
        done = sorted(t for _, t in finished)
        before_heal = {i for i, t in accepted_at.items() if t < self.healed_at}
        backlog = [t for i, t in finished if i in before_heal]
        load_began = min((s.at for s in sent), default=self.began_at)
        submit_rate = self._rate_before(accepted, load_began)
        completion_rate = self._rate_before(done, load_began)
        first_accept = min(
            (s.answered for s in sent if s.status == 202 and s.job_id and s.at >= self.down_at),
            default=None,
        )
        span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
        return {
            "break_step_s": round(self.down_at - self.began_at, 2),
            "healed_s": self._since_fault(self.healed_at),
            "submit_rate_before_fault": _round(submit_rate),
            "completion_rate_before_fault": _round(completion_rate),
            "submit_rate_overall": _round(len(accepted) / span if span else None),
            "accepting_again_s": self._since_fault(first_accept),
            "submit_rate_back_s": self._back_to(accepted, submit_rate),
            "completion_rate_back_s": self._back_to(done, completion_rate),
            "backlog_drained_s": self._since_fault(
                max(backlog) if backlog and len(backlog) == len(before_heal) else None
            ),
        }

    def _rate_before(self, times: Iterable[float], load_began: float) -> float | None:
        """Events per second from the end of the warm-up to the start of the break step."""
        begin = load_began + WARMUP
        if self.began_at - begin < 1.0:
            return None
        return sum(1 for t in times if begin <= t < self.began_at) / (self.began_at - begin)

    def _back_to(self, times: list[float], rate: float | None) -> float | None:
        """From the fault to the start of the first whole second after it that holds
        NORMAL_SHARE of `rate` events."""
        if not rate:
            return None
        per_second = Counter(int(t - self.down_at) for t in times if t >= self.down_at)
        return next(
            (float(k) for k in sorted(per_second) if per_second[k] >= NORMAL_SHARE * rate), None
        )

    def _since_fault(self, t: float | None) -> float | None:
        return None if t is None else round(t - self.down_at, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
