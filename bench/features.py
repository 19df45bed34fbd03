"""Issue 11's job features, measured on the stack as it is (with its history): four figures.

1. The relay with 100,000 scheduled jobs waiting: what `dispatch_due` costs per tick when nothing
   is due, as the maintenance worker records it (`maintenance` collection: Δtotal_seconds / Δruns
   over a window, the real task), before and after the jobs are written; beside it, the relay's
   query (`JobStore.due_for_dispatch`) timed from here. The jobs are written straight into the
   database in the shape `new_job` gives a job submitted with a `run_at` (1 to 30 days ahead),
   through `JobStore.insert_many`, so setting up takes seconds, not an hour of POSTs.
2. Due jobs start on time: N noop jobs posted to `/jobs/batch` with `run_at` spread over the next
   seconds (the 100,000 still waiting); lateness = `started_at` - `run_at`, per job.
3. `GET /jobs/<id>?wait=30` answers soon after the job ends: client threads each submit a short
   `sleep` job and wait for it at once; lateness = when the answer was read here - the job's
   `finished_at` (both on this machine's clock).
4. A rate limit of R/s holds within 5% over 60 s: a backlog of one job type limited to R starts
   a second (TYPE_RATE, set on the stack this stage measures); the starts per second over 60 s
   from their `started_at`. Skipped, with its reason, while `Settings` has no `type_rate` (the
   `limits` work, not yet merged when this was written).

Figures are reported beside their targets, never asserted. `python -m bench.run --only features`
runs this stage alone on a stack of its own (seeding the history first) and adds its figures to
docs/benchmarks.json and .md without rerunning the rest.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database

from bench.maintenance import MaintenanceWatch
from services.core import clock
from services.core.config import Settings, settings
from services.core.jobs.states import FINISHED, JobStatus
from services.core.jobs.store import JobStore, new_job
from tools.localstack import backends
from tools.localstack.http import headers, post_ok
from tools.localstack.stack import LocalStack

# Issue 11's "done when", second bullet.
TARGETS = {
    "relay_tick_ms": 5.0,
    "due_p99_s": 1.0,
    "wait_p99_ms": 50.0,
    "rate_within": 0.05,
}
SCHEDULED = 100_000
INSERT_BATCH = 5000
BATCH = 250
QUERY_TRIES = 15
SETTLE_S = 10.0
WAIT_SLEEP_S = 0.3
LOG = Callable[[str], None]


def plan(quick: bool) -> dict[str, Any]:
    """The sizes of each measurement; `quick` keeps the 100,000 and shortens the rest."""
    if quick:
        return {"relay_window_s": 10, "due_n": 100, "due_spread_s": 15, "wait_n": 60,
                "wait_clients": 4, "rate_window_s": 20}  # fmt: skip
    return {"relay_window_s": 30, "due_n": 300, "due_spread_s": 30, "wait_n": 300,
            "wait_clients": 6, "rate_window_s": 60}  # fmt: skip


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50, p99 and the worst of `values`, with how many there were."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 4),
        "p99": round(p99, 4),
        "max": round(ordered[-1], 4),
    }


# 1. the relay ------------------------------------------------------------------------------------


def _dispatch_row(db: Database, seconds: float) -> dict[str, Any] | None:
    """`dispatch_due`'s runs over a window of `seconds`, as the maintenance worker records them."""
    with MaintenanceWatch(db) as watch:
        time.sleep(seconds)
    rows = watch.result() or []
    return next((r for r in rows if r["task"] == "dispatch_due"), None)


def _query_ms(store: JobStore, grace: float) -> float:
    times = []
    for _ in range(QUERY_TRIES):
        start = time.perf_counter()
        store.due_for_dispatch(grace)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


def seed_scheduled(store: JobStore, n: int) -> float:
    """Write `n` scheduled noop jobs due 1 to 30 days from now; the seconds it took."""
    start = time.monotonic()
    now = clock.now()
    for offset in range(0, n, INSERT_BATCH):
        docs = [
            new_job("noop", {}, 0, 3, run_at=now + timedelta(days=1 + 29 * i / n))
            for i in range(offset, min(n, offset + INSERT_BATCH))
        ]
        store.insert_many(docs)
    return time.monotonic() - start


def _relay_figures(db: Database, store: JobStore, window: float) -> dict[str, Any]:
    row = _dispatch_row(db, window) or {}
    mean = row.get("mean_s")
    longest = row.get("max_s")
    return {
        "scheduled_waiting": db["jobs"].count_documents({"status": JobStatus.SCHEDULED.value}),
        "ticks": row.get("runs", 0),
        "tick_mean_ms": None if mean is None else round(mean * 1000, 3),
        "tick_max_ms": None if longest is None else round(longest * 1000, 3),
        "query_median_ms": _query_ms(store, settings().outbox_grace),
    }


def relay_cost(db: Database, p: dict[str, Any], log: LOG) -> dict[str, Any]:
    """The relay's tick before and after 100,000 scheduled jobs are written (which stay)."""
    store = JobStore(db)
    before = _relay_figures(db, store, p["relay_window_s"])
    log(f"relay with no scheduled jobs: {before}")
    seeded_s = seed_scheduled(store, SCHEDULED)
    log(f"wrote {SCHEDULED:,} scheduled jobs in {seeded_s:.1f}s")
    # The figure is the cost of waiting jobs, not of the database catching up on 100,000 writes.
    time.sleep(SETTLE_S)
    after = _relay_figures(db, store, p["relay_window_s"])
    log(f"relay with {SCHEDULED:,} scheduled jobs waiting: {after}")
    return {"scheduled": SCHEDULED, "seed_seconds": round(seeded_s, 1), "settle_s": SETTLE_S,
            "before": before, "after": after}  # fmt: skip


# 2. due jobs start on time -----------------------------------------------------------------------


def _iso_ms(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wait_finished(db: Database, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    """The jobs' documents once every one has finished (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    fields = {"status": 1, "run_at": 1, "queued_at": 1, "started_at": 1}
    while True:
        docs = list(db["jobs"].find({"_id": {"$in": ids}}, fields))
        done = all(JobStatus(d["status"]) in FINISHED for d in docs) and len(docs) == len(ids)
        if done or time.monotonic() > deadline:
            return docs
        time.sleep(1.0)


def due_lateness(stack: LocalStack, db: Database, p: dict[str, Any], log: LOG) -> dict[str, Any]:
    """N jobs with `run_at` spread over the next seconds: how late each started."""
    n, spread = p["due_n"], p["due_spread_s"]
    first = datetime.now(UTC) + timedelta(seconds=3)
    run_at = {}
    ids: list[str] = []
    for offset in range(0, n, BATCH):
        times = [
            first + timedelta(seconds=spread * i / n) for i in range(offset, min(n, offset + BATCH))
        ]
        jobs = [{"type": "noop", "payload": {}, "run_at": _iso_ms(t)} for t in times]
        reply = post_ok(stack.config.base_url, "/jobs/batch", {"jobs": jobs}, stack.api_key())
        for job, t in zip(reply["jobs"], times, strict=True):
            run_at[job["id"]] = t.replace(microsecond=t.microsecond // 1000 * 1000)
            ids.append(job["id"])
    docs = _wait_finished(db, ids, spread + 60)
    started = [d for d in docs if d.get("started_at")]
    late = [(d["started_at"] - run_at[d["_id"]]).total_seconds() for d in started]
    # A worker may claim a job before the relay has marked it queued: then it has no queued_at.
    queued = [
        (d["queued_at"] - run_at[d["_id"]]).total_seconds() for d in started if d.get("queued_at")
    ]
    result = {"n": n, "spread_s": spread, "started": len(started),
              "start_late_s": percentiles(late), "queue_late_s": percentiles(queued)}  # fmt: skip
    log(f"due jobs: {result}")
    return result


# 3. ?wait= answers ------------------------------------------------------------------------------


def _get(base: str, key: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(base + path, headers=headers(key))
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.load(response))


def _one_wait(base: str, key: str) -> tuple[float | None, str]:
    """Submit a short sleep and wait for it: seconds from its `finished_at` to the answer."""
    job = {"type": "sleep", "payload": {"seconds": WAIT_SLEEP_S}}
    made = post_ok(base, "/jobs", job, key)
    answer = _get(base, key, f"/jobs/{made['id']}?wait=30")
    answered = time.time()
    if answer["finished_at"] is None:
        return None, answer["status"]
    finished = datetime.fromisoformat(answer["finished_at"].replace("Z", "+00:00"))
    return answered - finished.timestamp(), answer["status"]


def wait_lateness(stack: LocalStack, p: dict[str, Any], log: LOG) -> dict[str, Any]:
    """Client threads, each submitting a short sleep job and waiting for it, `wait_n` in all."""
    base, key = stack.config.base_url, stack.api_key()
    late: list[float] = []
    unfinished: list[str] = []
    lock = threading.Lock()
    rounds = p["wait_n"] // p["wait_clients"]

    def client() -> None:
        for _ in range(rounds):
            try:
                seconds, status = _one_wait(base, key)
            except (RuntimeError, OSError) as error:  # an error answer, or none: counted
                status, seconds = f"error: {str(error)[:200]}", None
            with lock:
                (late.append(seconds) if seconds is not None else unfinished.append(status))

    threads = [threading.Thread(target=client) for _ in range(p["wait_clients"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = {"n": rounds * p["wait_clients"], "clients": p["wait_clients"],
              "sleep_s": WAIT_SLEEP_S, "poll_interval_s": settings().wait_poll_interval,
              "answer_late_s": percentiles(late), "answered_unfinished": unfinished,
              "errors": sum(u.startswith("error") for u in unfinished)}  # fmt: skip
    log(f"?wait=: {result}")
    return result


# 4. rate limits ---------------------------------------------------------------------------------

# The `limits` work's per-type rate (TYPE_RATE=`type=r,...`, starts per second). Until it lands
# the field is absent and this figure is skipped, with the reason, rather than failed.
RATE_FIELD = "type_rate"
# `tally` (tools/drills/jobtypes.py, loaded by every bench stack) is the drills' no-op: no other
# stage posts it, so its limit holds back nothing else measured.
RATED_TYPE = "tally"
RATE = 10
WARM_UP_S = 5.0


def rate_limited() -> bool:
    """Whether this code has per-type rate limits to measure."""
    return RATE_FIELD in Settings.model_fields


def stack_env() -> dict[str, str]:
    """Environment for the stack this stage measures: the rate limit of RATED_TYPE."""
    return {RATE_FIELD.upper(): f"{RATED_TYPE}={RATE}"} if rate_limited() else {}


def rate_figures(starts: list[datetime], window: float) -> dict[str, Any]:
    """The starts per second over `window` seconds from WARM_UP_S after the first start, its
    deviation from RATE, and the busiest clock second in it."""
    if not starts:
        return {"starts": 0, "per_s": None, "deviation": None, "busiest_second": None}
    t0 = min(starts).timestamp() + WARM_UP_S
    inside = [t.timestamp() for t in starts if t0 <= t.timestamp() < t0 + window]
    per_second = [sum(1 for t in inside if int(t) == second) for second in {int(t) for t in inside}]
    per_s = len(inside) / window
    return {
        "starts": len(inside),
        "per_s": round(per_s, 3),
        "deviation": round(per_s / RATE - 1, 4),
        "busiest_second": max(per_second, default=0),
        # The limit was binding only while jobs still waited: a backlog that ran out early is
        # a figure of the backlog, not of the limit.
        "backlog_lasted": max(starts).timestamp() >= t0 + window,
    }


def rate_limit(stack: LocalStack, db: Database, p: dict[str, Any], log: LOG) -> dict[str, Any]:
    """A backlog of RATED_TYPE jobs, limited to RATE starts a second: the starts per second
    over the window, from their `started_at`s (a throttled job's is that of its last claim)."""
    if not rate_limited():
        reason = f"no rate limit in Settings (no field `{RATE_FIELD}`): the feature has not landed"
        log(f"rate limit: skipped: {reason}")
        return {"skipped": reason}
    window = p["rate_window_s"]
    n = round(RATE * (window + 3 * WARM_UP_S))
    ids: list[str] = []
    for offset in range(0, n, BATCH):
        jobs = [{"type": RATED_TYPE, "payload": {}}] * min(BATCH, n - offset)
        reply = post_ok(stack.config.base_url, "/jobs/batch", {"jobs": jobs}, stack.api_key())
        ids += [job["id"] for job in reply["jobs"]]
    docs = _wait_finished(db, ids, n / RATE + 120)
    starts = [d["started_at"] for d in docs if d.get("started_at")]
    result = {"rate": RATE, "type": RATED_TYPE, "window_s": window, "n": n,
              **rate_figures(starts, window)}  # fmt: skip
    log(f"rate limit: {result}")
    return result


# the stage ---------------------------------------------------------------------------------------


def _guarded(name: str, part: Callable[[], dict[str, Any]], log: LOG) -> dict[str, Any]:
    """The part's figures; or why it failed, so that a failure here, at the end of a long run,
    costs this figure only and not the run's others."""
    try:
        return part()
    except Exception as error:
        log(f"{name} failed: {error!r}")
        return {"failed": repr(error)[:300]}


def measure(stack: LocalStack, quick: bool, log: LOG) -> dict[str, Any]:
    """All four, on the database as it is; the 100,000 scheduled jobs are deleted afterwards."""
    db = backends.database(stack.config)
    since = backends.marker()
    p = plan(quick)
    data = {k: db[k].estimated_document_count() for k in ("jobs", "agents", "tickets")}
    try:
        results = {
            "plan": p,
            "data": data,
            "relay": _guarded("relay", lambda: relay_cost(db, p, log), log),
            "due": _guarded("due", lambda: due_lateness(stack, db, p, log), log),
            "wait": _guarded("wait", lambda: wait_lateness(stack, p, log), log),
            "rate_limit": _guarded("rate limit", lambda: rate_limit(stack, db, p, log), log),
        }
    finally:
        backends.reset_jobs(stack.config, since)
    return {
        **results,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The machine is shared: how loaded it was by the end, beside the load at the start.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
