"""Benchmark 4: ticket assignment with 1,000 agents: tickets/s assigned, time to assign.

1,000 available agents (voice capacity 1, text capacity 3, a few skills each) are created through
the API; then TICKETS text and voice tickets, each asking for one skill, are posted at once. The
clock runs from the first ticket's `created_at` to the last `assigned_at` (both recorded by the
service); time to assign is `assigned_at - created_at` per ticket. Skipped, with the reason, when
the stack has no tickets API. Each run deletes only the agents and tickets it made: on a database
with history, the seeded agents that are available (tools/localstack/history.py) may take
tickets too, as agents on shift would.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.stats import summary
from services.core import queues
from services.core.tickets import stats as ticket_stats
from tools.localstack import backends
from tools.localstack.http import headers, post_json
from tools.localstack.stack import LocalStack

AGENTS = 1000
SKILLS = ("billing", "tech", "sales", "english", "french", "german")
CLIENT_THREADS = 8


def available(base_url: str, key: str) -> str | None:
    """None when the tickets API answers; otherwise why the benchmark is skipped."""
    request = urllib.request.Request(base_url + "/tickets/stats", headers=headers(key))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return None if response.status == 200 else f"GET /tickets/stats gave {response.status}"
    except urllib.error.HTTPError as error:
        return f"GET /tickets/stats gave {error.code}: no tickets API in this build"
    except OSError as error:
        return f"GET /tickets/stats failed: {error}"


def _agent(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "name": f"bench-agent-{i}",
        "skills": rng.sample(SKILLS, 3),
        "channels": {"voice": {"capacity": 1}, "text": {"capacity": 3}},
        "status": "available",
    }


def _ticket(rng: random.Random) -> dict[str, Any]:
    return {"channel": rng.choice(("text", "text", "voice")), "skills": [rng.choice(SKILLS)]}


def _reset(stack: LocalStack, since: str) -> None:
    """Delete the agents and tickets made since `since` (a `backends.marker()`): the run's own."""
    db = backends.database(stack.config)
    for name in ("agents", "tickets", "ticket_queue"):
        db[name].delete_many({"_id": {"$gte": since}})


def _wait_tickets_queue_empty(stack: LocalStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while backends.ready_messages(stack.config, queues.TICKETS) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the tickets queue did not drain")
        time.sleep(0.5)


def one_run(stack: LocalStack, tickets: int, timeout: float, seed: int) -> dict[str, Any]:
    since = backends.marker()
    base, key = stack.config.base_url, stack.api_key()
    rng = random.Random(seed)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        made = list(
            pool.map(lambda i: post_json(base, "/agents", _agent(rng, i), key), range(AGENTS))
        )
    bad = [status for status, _ in made if status != 201]
    if bad:
        raise RuntimeError(f"{len(bad)} agents not created: {bad[:5]}")
    # Each new agent asks for waiting work; let those pulls finish before the clock starts.
    _wait_tickets_queue_empty(stack, timeout)
    bodies = [_ticket(rng) for _ in range(tickets)]
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        sent = list(pool.map(lambda body: post_json(base, "/tickets", body, key), bodies))
    ids = [body["id"] for status, body in sent if status == 202]
    coll = backends.database(stack.config)["tickets"]
    deadline = time.monotonic() + timeout
    mine = {"_id": {"$gte": since}}
    while coll.count_documents({**mine, "status": "waiting"}) > 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    docs = list(coll.find({"_id": {"$in": ids}}, {"created_at": 1, "assigned_at": 1}))
    _reset(stack, since)
    assigned = [d for d in docs if d.get("assigned_at") is not None]
    waits = ticket_stats.waits(assigned)
    span = (
        (
            max(d["assigned_at"] for d in assigned) - min(d["created_at"] for d in docs)
        ).total_seconds()
        if assigned
        else float("nan")
    )
    return {
        "agents": AGENTS,
        "tickets": len(ids),
        "assigned": len(assigned),
        "tickets_per_s": len(assigned) / span if assigned else 0.0,
        "assign_p50_ms": _ms(ticket_stats.percentile(waits, 0.5)),
        "assign_p99_ms": _ms(ticket_stats.percentile(waits, 0.99)),
        "not_accepted": [status for status, _ in sent if status != 202][:10],
    }


def measure(stack: LocalStack, tickets: int, reps: int, timeout: float, log: Any) -> dict[str, Any]:
    reason = available(stack.config.base_url, stack.api_key())
    if reason is not None:
        log(f"assignment: skipped ({reason})")
        return {"skipped": reason}
    runs = []
    for rep in range(reps):
        runs.append(one_run(stack, tickets, timeout, seed=rep))
        r = runs[-1]
        log(
            f"assignment rep {rep + 1}: {r['assigned']}/{r['tickets']} assigned, "
            f"{r['tickets_per_s']:.1f}/s, p50 {r['assign_p50_ms']} ms p99 {r['assign_p99_ms']} ms"
        )
    return {
        "agents": AGENTS,
        "tickets": tickets,
        "tickets_per_s": summary([r["tickets_per_s"] for r in runs]),
        "assign_p50_ms": summary([r["assign_p50_ms"] for r in runs if r["assign_p50_ms"]]),
        "assign_p99_ms": summary([r["assign_p99_ms"] for r in runs if r["assign_p99_ms"]]),
        "runs": runs,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
