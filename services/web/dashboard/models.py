"""What the dashboard's pages show, made from the stores' documents: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from services.core import clock
from services.core.errors import InvalidRequest
from services.core.jobs.document import JobDoc
from services.core.jobs.states import CANCELLABLE_AT_ONCE, RETRYABLE_BY_HAND, JobStatus

TYPE_MAX = 200
CURSOR_MAX = 64
NAME_MAX = 200
# A dead letter (`failed`) is cancelled too: dismissed, it leaves the list and expires.
CANCELLABLE = frozenset(
    s.value for s in (*CANCELLABLE_AT_ONCE, JobStatus.RUNNING, JobStatus.FAILED)
)
RETRYABLE = frozenset(s.value for s in RETRYABLE_BY_HAND)


@dataclass(frozen=True)
class JobFilter:
    """The jobs list's filters, from its query string; empty fields filter nothing."""

    state: str | None = None
    type: str | None = None
    cursor: str | None = None

    def query(self, cursor: str | None = None) -> str:
        """The query string of this filter, at `cursor` (a page's `next`)."""
        fields = {"state": self.state, "type": self.type, "cursor": cursor}
        return urlencode({k: v for k, v in fields.items() if v})


def _text(args: Mapping[str, str], name: str, longest: int) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > longest:
        raise InvalidRequest(f"{name}: at most {longest} characters", field=name)
    return value or None


def parse_filter(args: Mapping[str, str]) -> JobFilter:
    """The filters of a jobs list's query string; an unknown state is a 400."""
    state = _text(args, "state", TYPE_MAX)
    if state is not None and state not in JobStatus.__members__.values():
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidRequest(f"state: must be one of {known}", field="state")
    return JobFilter(state, _text(args, "type", TYPE_MAX), _text(args, "cursor", CURSOR_MAX))


@dataclass(frozen=True)
class Event:
    at: datetime | None
    what: str
    detail: str = ""


def _when(doc: Mapping[str, Any], field: str) -> datetime | None:
    value = doc.get(field)
    return value if isinstance(value, datetime) else None


def timeline(doc: JobDoc) -> list[Event]:
    """A job's life in time order: recorded, scheduled, queued, each attempt's error, started,
    finished. Only the last start is kept by the store; earlier ones show as their errors."""
    events = [Event(_when(doc, "created_at"), "submitted", f"priority {doc['priority']}")]
    if doc.get("schedule"):
        link = doc["schedule"]
        events.append(Event(_when(doc, "created_at"), "made by schedule", link["name"]))
    if doc.get("run_at"):
        events.append(Event(_when(doc, "run_at"), "due", "start time asked for"))
    for entry in doc.get("errors", []):
        events.append(
            Event(_when(entry, "at"), f"attempt {entry['attempt']} failed", entry["error"])
        )
    if doc.get("queued_at"):
        events.append(Event(_when(doc, "queued_at"), "queued"))
    if doc.get("started_at"):
        worker = f"on {doc['worker']}" if doc.get("worker") else ""
        events.append(Event(_when(doc, "started_at"), f"attempt {doc['attempts']} started", worker))
    if doc.get("finished_at"):
        events.append(Event(_when(doc, "finished_at"), doc["status"], doc.get("error") or ""))
    return sorted(events, key=_moment)


def _moment(event: Event) -> datetime:
    """A sort key: events without a time first; a naive time is UTC, as the stores write it."""
    if event.at is None:
        return datetime.min.replace(tzinfo=UTC)
    return event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)


def progress_percent(doc: JobDoc) -> int | None:
    progress = doc.get("progress")
    return None if progress is None else round(float(progress) * 100)


@dataclass(frozen=True)
class JobRow:
    """One job as a list shows it, with what its buttons may do."""

    id: str
    type: str
    status: str
    attempts: str
    created_at: str | None
    error: str | None
    may_retry: bool
    may_cancel: bool


def job_row(doc: JobDoc) -> JobRow:
    status = doc["status"]
    return JobRow(
        id=doc["_id"],
        type=doc["type"],
        status=status,
        attempts=f"{doc['attempts']}/{doc['max_attempts']}",
        created_at=clock.iso(doc.get("created_at")),
        error=doc.get("error"),
        may_retry=status in RETRYABLE,
        may_cancel=status in CANCELLABLE,
    )


def status_order(by_status: Mapping[str, int]) -> list[tuple[str, int]]:
    """Every status in the state machine's order, with its count (0 for none)."""
    return [(s.value, by_status.get(s.value, 0)) for s in JobStatus]


def safe_return(path: str | None, default: str) -> str:
    """Where a button goes back to: a dashboard page only, never elsewhere (an open redirect)."""
    if path and path.startswith("/dashboard") and "//" not in path and "\\" not in path:
        return path
    return default


def parse_after(args: Mapping[str, str]) -> str | None:
    """The schedules list's cursor: the last name of the previous page."""
    return _text(args, "after", NAME_MAX)
