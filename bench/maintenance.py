"""How long the periodic maintenance tasks took during a measured window, as a share of interval.

The maintenance worker records every run in the `maintenance` collection, one document per task
(`_id` the task name; `interval`, `runs`, `total_seconds`, `max_seconds`, `last_seconds`,
`last_started_at`). The mean over the window is Δtotal_seconds / Δruns between its two ends;
the longest is the largest `last_seconds` seen by sampling every half second, or the recorded
`max_seconds` when that grew during the window (a run shorter than the sampling step can hide
between two samples, never one long enough to matter). A task with no runs in the window was
starved or kept skipping its ticks: that is a finding too, so it is reported, not dropped.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from services.core.documents import Doc
from services.core.maintenance import Maintenance
from services.core.ticker import Ticker

SAMPLE_EVERY = 0.5


class MaintenanceWatch:
    """`with MaintenanceWatch(db) as watch:` around the window; then `watch.result()`."""

    def __init__(self, db: Database) -> None:
        self.maintenance = Maintenance(db)
        self.start: dict[str, Doc] = {}
        self.end: dict[str, Doc] = {}
        # Per task, the duration of each run that ended in the window, by its start time.
        self.seen: dict[str, dict[Any, float]] = {}
        self._ticker = Ticker(self._sample, SAMPLE_EVERY, name="maintenance-watch")

    def _snapshot(self) -> dict[str, Doc]:
        return {str(doc["_id"]): doc for doc in self.maintenance.report()}

    def _sample(self) -> None:
        for name, doc in self._snapshot().items():
            if doc.get("last_seconds") is not None:
                started = doc.get("last_started_at")
                self.seen.setdefault(name, {})[started] = float(doc["last_seconds"])

    def __enter__(self) -> MaintenanceWatch:
        self.start = self._snapshot()
        self._ticker.__enter__()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._ticker.__exit__()
        self.end = self._snapshot()

    def result(self) -> list[Doc] | None:
        """One row per task; None when no task records its runs (nothing to read)."""
        if not self.end:
            return None
        rows = []
        for name, end in sorted(self.end.items()):
            start = self.start.get(name, {})
            runs = int(end.get("runs", 0)) - int(start.get("runs", 0))
            total = float(end.get("total_seconds", 0.0)) - float(start.get("total_seconds", 0.0))
            durations = self.seen.get(name, {})
            # The run in progress when the window opened finished inside it: not ours.
            durations.pop(start.get("last_started_at"), None)
            longest = max(durations.values(), default=0.0)
            if float(end.get("max_seconds", 0.0)) > float(start.get("max_seconds", 0.0)):
                longest = max(longest, float(end["max_seconds"]))
            interval = float(end.get("interval") or 0.0)
            mean = total / runs if runs else None
            rows.append(
                {
                    "task": name,
                    "interval_s": interval,
                    "runs": runs,
                    "mean_s": mean,
                    "max_s": longest if runs else None,
                    "mean_share": mean / interval if mean is not None and interval else None,
                    "max_share": longest / interval if runs and interval else None,
                }
            )
        return rows
