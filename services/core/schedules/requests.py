"""What clients may send for schedules, validated before anything is stored."""

from __future__ import annotations

from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

# Five fields, each `*`, a number or a range in the field's bounds, with an optional step, or a
# list of those: what croniter takes, so that whatever this pattern allows is accepted.
_NUMBERS = (
    r"[0-5]?[0-9]",  # minute
    r"(?:[01]?[0-9]|2[0-3])",  # hour
    r"(?:0?[1-9]|[12][0-9]|3[01])",  # day of month
    r"(?:0?[1-9]|1[0-2])",  # month
    r"[0-7]",  # day of week, 0 and 7 both Sunday
)


def _field(number: str) -> str:
    item = rf"(?:\*|{number}(?:-{number})?)(?:/[1-9][0-9]?)?"
    return rf"{item}(?:,{item})*"


CRON_PATTERN = "^" + " ".join(_field(n) for n in _NUMBERS) + "$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# A year: longer intervals are what cron expressions are for.
MAX_EVERY_SECONDS = 366 * 24 * 3600

Cron = Annotated[str, StringConstraints(pattern=CRON_PATTERN, max_length=200)]
Every = Annotated[float, Field(ge=1, le=MAX_EVERY_SECONDS)]


@cache
def time_zones() -> list[str]:
    return sorted(available_timezones())


class _Timed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cron: Cron | None = None
    every_seconds: Every | None = None
    timezone: str | None = None
    # The job each tick submits, as for POST /jobs; checked against its type by `book`.
    job: dict[str, JsonValue] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None and zone not in time_zones():
            raise ValueError(f"unknown time zone {zone[:64]!r}; an IANA name such as Europe/Paris")
        return zone


class ScheduleRequest(_Timed):
    name: str = Field(pattern=NAME_PATTERN)
    job: dict[str, JsonValue]
    paused: bool = False


class SchedulePatch(_Timed):
    """Any of the timing fields (a cron replaces an interval and back), and the job."""
