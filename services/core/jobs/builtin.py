"""The job types every deployment has: word_count, event, sleep and noop."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from services.core.config import settings
from services.core.fetch import FetchPolicy, FetchRefused, fetch
from services.core.jobs import limits
from services.core.jobs.context import JobContext, PermanentError
from services.core.jobs.registry import job_type
from services.core.jsonfield import Integer

# Letters and digits, with inner apostrophes (straight or typographic) kept: "don't" is one word.
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
# A fetch inside a job ends this long before the attempt's soft time limit, so it fails with an
# error of its own rather than being interrupted by the limit.
FETCH_MARGIN = 0.5


class _Strict(BaseModel):
    # Strict types: `true` is no integer, "5" no number.
    model_config = ConfigDict(extra="forbid", strict=True)


# word_count -------------------------------------------------------------------------------------


class WordCountPayload(_Strict):
    text: str | None = None
    url: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> WordCountPayload:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of 'text' or 'url'")
        return self


def count_words(text: str) -> dict[str, Any]:
    counts = Counter(word.lower() for word in _WORD.findall(text))
    return {
        "total_words": sum(counts.values()),
        "distinct_words": len(counts),
        "counts": dict(counts.most_common()),
    }


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skipping += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skipping -= tag in ("script", "style") and self._skipping > 0

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def fetch_text(url: str, policy: FetchPolicy, time_left: float | None = None) -> str:
    """The text of a page: HTML reduced to its visible words, anything else decoded as is."""
    try:
        page = fetch(url, policy, time_left=time_left)
    except FetchRefused as exc:
        # The URL came from the client: asking again would be refused again.
        raise PermanentError(str(exc)) from None
    text = page.body.decode(_known_charset(page.charset), errors="replace")
    if page.content_type != "text/html":
        return text
    parser = _TextOfHtml()
    parser.feed(text)
    return " ".join(parser.parts)


def _known_charset(charset: str | None) -> str:
    try:
        return codecs.lookup(charset or "utf-8").name
    except LookupError:
        return "utf-8"


@job_type("word_count", WordCountPayload, time_limit=60)
def word_count(payload: WordCountPayload, ctx: JobContext) -> dict[str, Any]:
    if payload.text is not None:
        text = payload.text
    else:
        left = ctx.time_left()
        budget = None if left is None else left - FETCH_MARGIN
        text = fetch_text(str(payload.url), ctx.fetch_policy, time_left=budget)
    ctx.raise_if_cancelled()
    return count_words(text)


# event ------------------------------------------------------------------------------------------


class EventPayload(_Strict):
    user_id: Integer
    event_type_id: Integer
    event_data: JsonValue = None


EventHandler = Callable[[EventPayload, JobContext], Any]
_event_handlers: dict[int, EventHandler] = {}


def event_handler(event_type_id: int) -> Callable[[EventHandler], EventHandler]:
    """Register the handler for one event type; other types get the default handler."""

    def register(handler: EventHandler) -> EventHandler:
        _event_handlers[event_type_id] = handler
        return handler

    return register


def record_event(event: EventPayload, ctx: JobContext) -> dict[str, Any]:
    return {"user_id": event.user_id, "event_type_id": event.event_type_id, "handled": True}


@job_type("event", EventPayload)
def event(payload: EventPayload, ctx: JobContext) -> Any:
    return _event_handlers.get(payload.event_type_id, record_event)(payload, ctx)


# sleep and noop ---------------------------------------------------------------------------------


def _sleep_limit() -> float:
    return limits.for_type("sleep", settings()).soft


def _sleep_limit_in_schema(schema: dict[str, Any]) -> None:
    # The limit is this deployment's (JOB_TIME_LIMITS), so the description says it as it is.
    schema["properties"]["seconds"]["exclusiveMaximum"] = _sleep_limit()


class SleepPayload(_Strict):
    model_config = ConfigDict(json_schema_extra=_sleep_limit_in_schema)

    seconds: float = Field(ge=0)
    fail_times: Integer = Field(default=0, ge=0)

    @field_validator("seconds")
    @classmethod
    def _within_the_time_limit(cls, seconds: float) -> float:
        # Accepted, a longer sleep could only end at its time limit, holding a worker till then.
        limit = _sleep_limit()
        if seconds >= limit:
            raise ValueError(f"must be less than the sleep time limit of {limit:g} s")
        return seconds


@job_type("sleep", SleepPayload)
def sleep(payload: SleepPayload, ctx: JobContext) -> dict[str, Any]:
    if ctx.attempt <= payload.fail_times:
        raise RuntimeError(f"failing on purpose: attempt {ctx.attempt} of {payload.fail_times}")
    ctx.sleep(payload.seconds)
    return {"slept": payload.seconds, "attempt": ctx.attempt}


class NoopPayload(_Strict):
    pass


@job_type("noop", NoopPayload)
def noop(payload: NoopPayload, ctx: JobContext) -> None:
    return None
