"""What the client was told against what MongoDB recorded, after a drill.

- lost: accepted (202 with an id) but not `succeeded` once the drain wait is over. Must be 0.
- recorded twice: a request recorded as more than one job, or a job whose recorded outcome came
  from an attempt other than the one that owns it (a superseded attempt writing over the record).
  Must be 0.
- executed again: jobs whose handler ran more than once (at-least-once delivery, allowed; only
  visible for the `tally` job type, which logs every execution).
- unacknowledged but recorded: requests the client saw fail whose job exists anyway (the client
  would retry with an Idempotency-Key to stay exactly-once).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any

from pymongo.database import Database

from bench.load import Load
from services.core import jsonfield

FINISHED = ("succeeded", "failed", "cancelled")
EXECUTIONS = "bench_executions"


def wait_drained(db: Database, job_ids: list[str], timeout: float) -> float:
    """Until every accepted job is finished (or the wait runs out); the seconds waited."""
    start = time.monotonic()
    pending = list(job_ids)
    while pending and time.monotonic() - start < timeout:
        # One primary-key read per job: FerretDB narrows nothing else without a full scan.
        pending = [
            i
            for i in pending
            if (db["jobs"].find_one({"_id": i}, {"status": 1}) or {}).get("status") not in FINISHED
        ]
        if pending:
            time.sleep(0.5)
    return time.monotonic() - start


def _token(doc: dict[str, Any], token_field: str) -> str | None:
    payload = jsonfield.load(doc.get("payload"))
    return payload.get(token_field) if isinstance(payload, dict) else None


def _result_attempt(doc: dict[str, Any]) -> int | None:
    result = jsonfield.load(doc.get("result"))
    return result.get("attempt") if isinstance(result, dict) else None


def audit(
    db: Database,
    load: Load,
    since: datetime,
    healed_at: float | None,
    drain_timeout: float = 120.0,
) -> dict[str, Any]:
    accepted = load.accepted()
    waited = wait_drained(db, [s.job_id for s in accepted if s.job_id], drain_timeout)
    docs = list(db["jobs"].find({"type": load.job_type, "created_at": {"$gte": since}}))
    by_token: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_token.setdefault(_token(doc, load.token_field) or "", []).append(doc)
    by_id = {doc["_id"]: doc for doc in docs}
    told_ok = {s.token for s in accepted}
    lost = [s.job_id for s in accepted if by_id.get(s.job_id, {}).get("status") != "succeeded"]
    duplicated = [t for t, group in by_token.items() if t and len(group) > 1]
    stale_outcome = [
        d["_id"]
        for d in docs
        if d["status"] == "succeeded"
        and _result_attempt(d) is not None
        and _result_attempt(d) != d["attempts"]
    ]
    executions = (
        Counter(
            e["job_id"]
            for e in db[EXECUTIONS].find({"job_id": {"$in": list(by_id)}}, {"job_id": 1})
        )
        if by_id
        else Counter()
    )
    errors = Counter(str(s.status) for s in load.sent if s.status != 202)
    first_ok_after_heal = min(
        (s.at for s in accepted if healed_at is not None and s.at >= healed_at), default=None
    )
    completions_after_heal = [
        d["finished_at"].timestamp()
        for d in docs
        if d["status"] == "succeeded"
        and d.get("finished_at") is not None
        and healed_at is not None
        and d["finished_at"].timestamp() >= healed_at
    ]
    return {
        "requests": len(load.sent),
        "accepted": len(accepted),
        "succeeded": sum(
            1 for s in accepted if by_id.get(s.job_id, {}).get("status") == "succeeded"
        ),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "recorded_twice": len(duplicated) + len(stale_outcome),
        "recorded_twice_detail": {
            "duplicate_jobs": duplicated[:20],
            "stale_outcome": stale_outcome[:20],
        },
        "executed_again": sum(1 for n in executions.values() if n > 1),
        "retried_attempts": sum(1 for d in docs if d.get("attempts", 0) > 1),
        "recorded_without_202": sum(1 for t in by_token if t and t not in told_ok),
        "client_errors": dict(sorted(errors.items())),
        "accept_recovery_s": None
        if first_ok_after_heal is None or healed_at is None
        else first_ok_after_heal - healed_at,
        "complete_recovery_s": (
            min(completions_after_heal) - healed_at
            if completions_after_heal and healed_at
            else None
        ),
        "drain_wait_s": round(waited, 1),
    }
