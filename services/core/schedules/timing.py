"""When a schedule's ticks fall: a cron expression or a fixed interval, in a time zone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter


@dataclass(frozen=True)
class Timing:
    cron: str | None = None
    every_seconds: float | None = None
    timezone: str = "UTC"

    def next_after(self, after: datetime, anchor: datetime) -> datetime | None:
        """The first tick strictly after `after`, in UTC; None if the expression never matches
        (the 31st of February). Interval ticks fall on `anchor` plus whole intervals."""
        if self.every_seconds is not None:
            elapsed = (after - anchor).total_seconds()
            steps = max(math.floor(elapsed / self.every_seconds) + 1, 1)
            return anchor + timedelta(seconds=steps * self.every_seconds)
        assert self.cron is not None
        local = after.astimezone(ZoneInfo(self.timezone))
        try:
            tick: datetime = croniter(self.cron, local).get_next(datetime)
        except CroniterBadDateError:
            return None
        return tick.astimezone(UTC)
