import threading

import pytest
from pydantic import ValidationError

from services.core.jobs import builtin
from services.core.jobs.context import JobCancelled, JobContext
from services.core.jobs.registry import get, names


def test_builtin_types_are_registered() -> None:
    assert {"word_count", "event", "sleep", "noop"} <= set(names())
    assert get("nope") is None


def test_count_words() -> None:
    result = builtin.count_words("The cat, the HAT; don't stop_now 42")
    assert result["counts"] == {
        "the": 2,
        "cat": 1,
        "hat": 1,
        "don't": 1,
        "stop": 1,
        "now": 1,
        "42": 1,
    }
    assert result["total_words"] == 8
    assert result["distinct_words"] == 7


def test_count_words_of_nothing() -> None:
    assert builtin.count_words("  ") == {"total_words": 0, "distinct_words": 0, "counts": {}}


@pytest.mark.parametrize(
    "payload", [{}, {"text": "a", "url": "http://x"}, {"url": "ftp://x"}, {"text": "a", "extra": 1}]
)
def test_word_count_payload_needs_exactly_one_source(payload: dict) -> None:
    with pytest.raises(ValidationError):
        builtin.WordCountPayload.model_validate(payload)


def test_html_is_reduced_to_visible_text() -> None:
    parser = builtin._TextOfHtml()
    parser.feed("<p>one <b>two</b></p><script>three()</script><style>.four{}</style>five")
    assert " ".join(parser.parts).split() == ["one", "two", "five"]


def test_sleep_fails_its_first_attempts_then_sleeps() -> None:
    payload = builtin.SleepPayload(seconds=0, fail_times=2)
    with pytest.raises(RuntimeError):
        builtin.sleep(payload, JobContext("j", attempt=2))
    assert builtin.sleep(payload, JobContext("j", attempt=3)) == {"slept": 0, "attempt": 3}


def test_sleep_stops_when_cancelled() -> None:
    ctx = JobContext("j", attempt=1)
    threading.Timer(0.05, ctx.cancel_requested.set).start()
    with pytest.raises(JobCancelled):
        builtin.sleep(builtin.SleepPayload(seconds=30), ctx)


def test_event_types_have_their_own_handlers() -> None:
    @builtin.event_handler(99)
    def signup(event: builtin.EventPayload, ctx: JobContext) -> dict:
        return {"welcomed": event.user_id}

    ctx = JobContext("j", attempt=1)
    special = builtin.EventPayload(user_id=5, event_type_id=99, event_data=None)
    ordinary = builtin.EventPayload(user_id=5, event_type_id=1, event_data={"x": [1]})
    assert builtin.event(special, ctx) == {"welcomed": 5}
    assert builtin.event(ordinary, ctx) == {"user_id": 5, "event_type_id": 1, "handled": True}
