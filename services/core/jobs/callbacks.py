"""Telling a client's URL that its job ended: a signed POST of the job, retried with backoff.

A job submitted with `callback_url` carries `callback_pending` until its callback is delivered or
given up. Every CALLBACK_INTERVAL the relay (a maintenance task) reads the ended jobs whose
callback is due, through a partial index that holds only those, claims each with a conditional
update that moves its next try a lease ahead, and sends one `deliver_callback` task per job to the
job workers. A worker POSTs the job, as `GET /jobs/<id>` shows it, under the outbound rules of
`fetch.py` (no internal addresses, time limits, no redirects followed). A 2xx answer ends it; any
other answer or failure tries again after a backoff, up to CALLBACK_MAX_ATTEMPTS tries; a refused
address ends it at once. A worker that dies mid-delivery leaves the lease to run out, and the
relay sends it again: delivery is at least once, so a receiver dedupes on `Switchboard-Delivery`.

Each POST is signed: `Switchboard-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
with CALLBACK_SECRET, so a receiver can check it came from here and is recent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.core import clock, fetch
from services.core.config import Settings
from services.core.fetch import FetchFailed, FetchPolicy, FetchRefused
from services.core.jobs.states import backoff_delay
from services.core.jobs.store import JobStore, to_api

DELIVER_CALLBACK = "switchboard.deliver_callback"
SIGNATURE = "Switchboard-Signature"
# How long a claimed try may take before the relay sends it again.
LEASE_SECONDS = 60.0
# Backoff between tries: doubling from this, never more than the cap (seconds).
BACKOFF_BASE, BACKOFF_CAP = 2.0, 600.0
# Due callbacks sent per relay round.
BATCH = 200

Post = Callable[[str, bytes, dict[str, str], FetchPolicy], int]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def relay(store: JobStore, send: Callable[[str], None], now: datetime) -> int:
    """Claim the due callbacks and send each to a worker; how many were sent."""
    lease_until = now + timedelta(seconds=LEASE_SECONDS)
    sent = 0
    for doc in store.due_callbacks(now, BATCH):
        if store.claim_callback(doc["_id"], doc["callback_next_at"], lease_until):
            send(doc["_id"])
            sent += 1
    return sent


def deliver(store: JobStore, job_id: str, s: Settings, post: Post = fetch.post) -> bool:
    """One try at a job's callback; whether it was delivered."""
    doc = store.get(job_id)
    if doc is None or not doc.get("callback_pending"):
        return False
    body = json.dumps(to_api(doc), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Switchboard-Event": "job.ended",
        "Switchboard-Delivery": job_id,
        SIGNATURE: signature(s.callback_secret, int(time.time()), body),
    }
    try:
        status = post(doc["callback_url"], body, headers, FetchPolicy.from_settings(s))
    except FetchRefused as exc:
        store.callback_failed(job_id, str(exc), None)
        return False
    except FetchFailed as exc:
        status, error = 0, str(exc)
    else:
        error = f"answered HTTP {status}"
    if 200 <= status < 300:
        store.callback_sent(job_id)
        return True
    attempts = doc.get("callback_attempts", 1)
    retry_at = None
    if attempts < s.callback_max_attempts:
        retry_at = clock.now() + timedelta(
            seconds=backoff_delay(attempts, BACKOFF_BASE, BACKOFF_CAP)
        )
    store.callback_failed(job_id, error, retry_at)
    return False
