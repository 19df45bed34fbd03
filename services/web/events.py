"""`GET /jobs/<id>/events`: a job's state and progress as Server-Sent Events.

One `state` event now and one per change (from the process's watchers: one query per round for
every watched job), then one `finished` event with the whole job, and the stream ends. A stream
lasts at most JOB_EVENTS_MAX seconds; a browser's EventSource reconnects by itself. A comment
every HEARTBEAT seconds keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from services.core.jobs.document import JobDoc
from services.core.jobs.store import JobStore, state_to_api, to_api
from services.core.jobs.watching import Watch, Watchers

HEARTBEAT = 15.0
# How long an EventSource waits before it reconnects, in milliseconds.
RECONNECT_MS = 1000


def message(event: str, data: Any) -> str:
    """One event in the text/event-stream format (the data is one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream(store: JobStore, watchers: Watchers, watch: Watch, max_seconds: float) -> Iterator[str]:
    """The events of the watched job until it finishes or `max_seconds` pass; closes the watch."""
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        deadline = time.monotonic() + max_seconds
        sent: JobDoc | None = None
        while time.monotonic() < deadline:
            if watch.state is not None and watch.state != sent:
                sent = watch.state
                yield message("state", state_to_api(sent))
            if watch.finished():
                job = store.get(watch.job_id)
                if job is not None:
                    yield message("finished", to_api(job))
                return
            if not watch.wait_change(min(HEARTBEAT, deadline - time.monotonic())):
                yield ": keep-alive\n\n"
    finally:
        watchers.close(watch)
