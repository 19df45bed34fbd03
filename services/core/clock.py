"""Time as the stores record it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    # MongoDB keeps milliseconds; trimming here makes what we return equal what we read back.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")
