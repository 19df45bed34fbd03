"""Hostile and sloppy input on every JSON route: a clear 4xx in the route's shape, never a 500.

The cases of issue 8 are here by name: lone surrogates in values and keys (with an
Idempotency-Key too), 1e999, nesting 900 deep, `priority: true`, text/plain and form bodies,
the word-count envelope for a body that is not JSON, and 405 with `Allow`.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from services.core.jobs.store import JobStore

JOB = b'{"type": "noop"}'
EVENT = b'{"user_id": 1, "priority": 1, "event_type_id": 1, "event_data": %s}'
TICKET = b'{"channel": "text", "data": %s}'


def _send(client: FlaskClient, method: str, path: str, body: bytes, **kw: Any) -> TestResponse:
    kw.setdefault("content_type", "application/json")
    return client.open(path, method=method, data=body, **kw)


def _event_with(value: bytes) -> bytes:
    return EVENT % value


# Each JSON route, with a way to put a client's value into a body it would otherwise accept.
ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/jobs", lambda v: b'{"type": "event", "payload": %s}' % _event_payload(v)),
    ("POST", "/jobs/batch", lambda v: b'{"jobs": [{"type": "noop", "payload": {"x": %s}}]}' % v),
    ("POST", "/tickets", lambda v: TICKET % v),
    ("POST", "/agents", lambda v: b'{"name": %s, "channels": {}}' % v),
    ("POST", "/api/event/v1", _event_with),
    ("POST", "/word-count", lambda v: b'{"url": %s}' % v),
    ("GET", "/word-count", lambda v: b'{"job_id": %s}' % v),
]


def _event_payload(value: bytes) -> bytes:
    return b'{"user_id": 1, "event_type_id": 1, "event_data": %s}' % value


def _refused(reply: TestResponse, path: str, status: int = 400) -> str:
    """The refusal's message, after checking it came in the route's own shape."""
    assert reply.status_code == status, reply.data
    if path == "/api/event/v1":
        assert reply.mimetype == "text/plain"
        return reply.get_data(as_text=True)
    body = reply.get_json()
    if path == "/word-count":
        assert body["success"] is False and set(body) == {"success", "message"}
        return str(body["message"])
    assert set(body) >= {"error", "field"}
    return str(body["error"])


# Content-Type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "make"), ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin-1"],
)
def test_a_body_not_sent_as_json_is_415(
    client: FlaskClient, method: str, path: str, make: Any, content_type: str
) -> None:
    reply = _send(client, method, path, make(b'"x"'), content_type=content_type)
    message = _refused(reply, path, 415)
    assert "application/json" in message
    if path not in ("/word-count", "/api/event/v1"):
        assert reply.get_json()["field"] == "Content-Type"


def test_a_form_post_cannot_create_a_job(client: FlaskClient, store: JobStore) -> None:
    # What a cross-site page can send without asking: a form, or text/plain.
    assert client.post("/jobs", data={"type": "noop"}).status_code == 415
    assert client.post("/jobs", data=JOB, content_type="text/plain").status_code == 415
    assert client.post("/jobs", data=JOB).status_code == 415  # no type at all
    assert store.jobs.count_documents({}) == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_or_without_a_utf8_charset_is_accepted(
    client: FlaskClient, content_type: str
) -> None:
    assert _send(client, "POST", "/jobs", JOB, content_type=content_type).status_code == 202


def test_a_get_without_a_body_needs_no_content_type(client: FlaskClient) -> None:
    assert client.get("/word-count?job_id=nope").status_code == 404
    assert client.get("/jobs").status_code == 200


# Values JSON cannot carry ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "make"), ROUTES)
@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b"1e999", "too large"),
        (b"-1e999", "too large"),
        (b"NaN", "NaN is not a JSON number"),
        (b"Infinity", "Infinity is not a JSON number"),
        (b'"\\ud800"', "lone surrogate"),
        (b'"a\\udfffb"', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),  # in a key
        (b'["\\ud83d\\ude00", "\\ude00"]', "lone surrogate"),  # a pair is fine, half is not
        (b"[" * 900 + b"]" * 900, "deeper than 64 levels"),
        (b"[" * 65 + b"]" * 65, "deeper than 64 levels"),
    ],
)
def test_what_json_cannot_carry_is_400(
    client: FlaskClient, method: str, path: str, make: Any, value: bytes, words: str
) -> None:
    message = _refused(_send(client, method, path, make(value)), path)
    assert words in message
    assert "Recursion" not in message and "Traceback" not in message


def test_a_lone_surrogate_with_an_idempotency_key_is_400(
    client: FlaskClient, store: JobStore
) -> None:
    body = b'{"type": "event", "payload": %s}' % _event_payload(b'{"\\udc00": "\\ud800"}')
    reply = _send(client, "POST", "/jobs", body, headers={"Idempotency-Key": "k-1"})
    assert "lone surrogate" in _refused(reply, "/jobs")
    assert store.jobs.count_documents({}) == 0


def test_nesting_up_to_the_limit_is_kept_exactly(client: FlaskClient) -> None:
    # The payload and event_data take two levels of the 64.
    deep = b"[" * 62 + b"]" * 62
    reply = _send(
        client, "POST", "/jobs", b'{"type": "event", "payload": %s}' % _event_payload(deep)
    )
    assert reply.status_code == 202
    data = client.get(f"/jobs/{reply.get_json()['id']}").get_json()["payload"]["event_data"]
    depth = 0
    while data:
        data, depth = data[0], depth + 1
    assert depth == 61


def test_large_but_finite_numbers_are_kept(client: FlaskClient) -> None:
    body = b'{"type": "event", "payload": %s}' % _event_payload(b"[1e308, -1e308, 1e-999]")
    reply = _send(client, "POST", "/jobs", body)
    assert reply.status_code == 202
    assert reply.get_json()["payload"]["event_data"] == [1e308, -1e308, 0.0]


# Strict integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "noop", "priority": True}, "priority"),
        ({"type": "noop", "priority": False}, "priority"),
        ({"type": "noop", "priority": 5.5}, "priority"),
        ({"type": "noop", "priority": "5"}, "priority"),
        ({"type": "noop", "max_attempts": True}, "max_attempts"),
        ({"type": "sleep", "payload": {"seconds": 0, "fail_times": True}}, "payload.fail_times"),
        ({"type": "sleep", "payload": {"seconds": True}}, "payload.seconds"),
        ({"type": "sleep", "payload": {"seconds": "1"}}, "payload.seconds"),
        (
            {"type": "event", "payload": {"user_id": True, "event_type_id": 1}},
            "payload.user_id",
        ),
        ({"type": "word_count", "payload": {"text": 5}}, "payload.text"),
    ],
)
def test_a_bool_or_a_float_is_no_integer(client: FlaskClient, body: dict, field: str) -> None:
    reply = client.post("/jobs", json=body)
    assert reply.status_code == 400
    assert reply.get_json()["field"] == field


@pytest.mark.parametrize("path", ["/jobs", "/agents", "/tickets", "/keys"])
def test_a_json_null_is_no_object(client: FlaskClient, path: str) -> None:
    reply = client.post(path, data=b"null", content_type="application/json")
    assert (reply.status_code, reply.get_json()["field"]) == (400, "body")


def test_a_whole_float_is_the_integer_json_schema_says_it_is(client: FlaskClient) -> None:
    job = client.post("/jobs", json={"type": "noop", "priority": 7.0, "max_attempts": 2.0})
    assert job.status_code == 202
    assert (job.get_json()["priority"], job.get_json()["max_attempts"]) == (7, 2)
    assert isinstance(job.get_json()["priority"], int)


def test_a_whole_number_in_the_query_is_digits_only(client: FlaskClient) -> None:
    for raw in ("1_0", " 5", "+5", "٣", "9" * 5000):
        reply = client.get("/jobs", query_string={"limit": raw})
        assert reply.status_code == 400 and reply.get_json()["field"] == "limit"
    assert client.get("/jobs?limit=5").status_code == 200


# Headers, methods, and whatever else ---------------------------------------------------------


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\xe9"])
def test_a_bad_idempotency_key_is_400(client: FlaskClient, key: str) -> None:
    reply = client.post("/jobs", json={"type": "noop"}, headers={"Idempotency-Key": key})
    assert reply.status_code == 400
    assert reply.get_json()["field"] == "Idempotency-Key"


def test_a_wrong_method_is_405_with_allow_in_the_json_shape(client: FlaskClient) -> None:
    reply = client.put("/jobs")
    assert reply.status_code == 405
    assert set(reply.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert reply.get_json()["error"]
    reply = client.delete("/word-count")
    assert reply.status_code == 405 and "POST" in reply.headers["Allow"]


def test_word_count_answers_every_bad_body_in_its_envelope(client: FlaskClient) -> None:
    for body, content_type, status in [
        (b"url=http://example.test", "application/x-www-form-urlencoded", 415),
        (b"http://example.test", "text/plain", 415),
        (b"{", "application/json", 400),
        (b"x" * 5000, "application/json", 413),
    ]:
        reply = _send(client, "POST", "/word-count", body, content_type=content_type)
        assert reply.status_code == status
        assert set(reply.get_json()) == {"success", "message"}
        assert reply.get_json()["success"] is False


def test_an_unexpected_error_is_a_500_in_the_json_shape_without_details(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object) -> None:
        raise RuntimeError("/srv/secret/path exploded")

    monkeypatch.setattr(JobStore, "get", broken)
    reply = client.get("/jobs/" + "a" * 24)
    assert reply.status_code == 500
    assert reply.get_json() == {"error": "internal server error"}


def test_an_event_that_cannot_be_enqueued_does_not_name_the_database(
    client: FlaskClient, database_down: Any
) -> None:
    database_down("insert_many")
    reply = _send(client, "POST", "/api/event/v1", _event_with(b"1"))
    assert reply.status_code == 500
    assert (
        reply.get_data(as_text=True) == "could not enqueue the event: the database is unavailable\n"
    )
