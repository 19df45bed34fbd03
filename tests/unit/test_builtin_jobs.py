import threading
import time

import pytest
from pydantic import BaseModel, ValidationError

from services.core.config import Settings
from services.core.fetch import FetchFailed, FetchPolicy, FetchRefused
from services.core.jobs import builtin, registry
from services.core.jobs.context import JobCancelled, JobContext, PermanentError
from services.core.jobs.registry import get, names
from tests.loopback import LOCAL, Listener, answer, drip, serve


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


def _policy(*allowed: str) -> FetchPolicy:
    return FetchPolicy.from_settings(Settings(fetch_allow_hosts=allowed))


def test_a_url_inside_our_network_fails_the_job_for_good() -> None:
    probe = Listener()
    payload = builtin.WordCountPayload.model_validate(
        {"url": f"http://127.0.0.1:{probe.port}/stats"}
    )
    try:
        with pytest.raises(PermanentError, match="not a public address"):
            builtin.word_count(payload, JobContext("j", attempt=1, fetch_policy=_policy()))
        assert not probe.contacted()
    finally:
        probe.sock.close()


def test_the_fetch_policy_is_the_job_context_s() -> None:
    ctx = JobContext("j", attempt=1, fetch_policy=_policy("127.0.0.1"))
    with serve(answer(b"one two two")) as port:
        payload = builtin.WordCountPayload.model_validate({"url": f"http://127.0.0.1:{port}/"})
        result = builtin.word_count(payload, ctx)
    assert result["counts"] == {"two": 2, "one": 1}


def test_a_url_is_fetched_within_the_time_the_job_has_left() -> None:
    ctx = JobContext(
        "j", attempt=1, deadline=time.monotonic() + 0.8, fetch_policy=_policy("127.0.0.1")
    )
    slow = drip(b"HTTP/1.0 200 OK\r\nContent-Length: 90\r\n\r\n", 90)
    # The fetch's own timeout (15 s) is not what stops it: the job's time is.
    with serve(slow) as port, pytest.raises(FetchFailed, match="within its job's time limit"):
        payload = builtin.WordCountPayload.model_validate({"url": f"http://127.0.0.1:{port}/"})
        builtin.word_count(payload, ctx)


def test_a_fetched_page_is_reduced_to_its_text() -> None:
    page = answer(
        "<p>caf\xe9 <script>x()</script></p>".encode("latin-1"), "text/html; charset=latin-1"
    )
    with serve(page) as port:
        assert builtin.fetch_text(f"http://127.0.0.1:{port}/", LOCAL).split() == ["café"]


def test_an_unknown_charset_is_read_as_utf8() -> None:
    with serve(answer("né".encode(), "text/plain; charset=martian")) as port:
        assert builtin.fetch_text(f"http://127.0.0.1:{port}/", LOCAL) == "né"


def test_a_failed_fetch_may_be_retried_and_an_oversized_one_may_not() -> None:
    with serve(answer(b"busy", status=503)) as port, pytest.raises(FetchFailed) as caught:
        builtin.fetch_text(f"http://127.0.0.1:{port}/", LOCAL)
    assert not isinstance(caught.value, (FetchRefused, PermanentError))
    small = FetchPolicy(allow_hosts=frozenset({"127.0.0.1"}), max_bytes=3)
    with serve(answer(b"too long")) as port, pytest.raises(PermanentError, match="larger than 3"):
        builtin.fetch_text(f"http://127.0.0.1:{port}/", small)


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


def test_a_type_registered_by_a_test_is_gone_after_it() -> None:
    # This pair runs in file order: this one registers, the next one must not see it.
    registry.job_type("unit_leaks", BaseModel)(lambda _p, _c: None)
    assert get("unit_leaks") is not None


def test_no_test_sees_a_type_an_earlier_test_registered() -> None:
    assert get("unit_leaks") is None


class _Limited(BaseModel):
    n: int = 0


def test_a_registered_type_keeps_its_name_model_handler_and_time_limit() -> None:
    def handler(payload: _Limited, ctx: JobContext) -> int:
        return payload.n

    assert registry.job_type("unit_limited", _Limited, time_limit=12.5)(handler) is handler
    assert get("unit_limited") == registry.JobType("unit_limited", _Limited, handler, 12.5)
