"""Callbacks: signed, claimed once per try, retried with backoff, given up when refused."""

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.core import clock
from services.core.config import Settings
from services.core.fetch import FetchFailed, FetchPolicy, FetchRefused
from services.core.jobs import callbacks
from services.core.jobs.states import JobStatus
from services.core.jobs.store import JobStore, new_job
from services.core.runtime import Runtime
from tests.loopback import Received, receive, serve

SECRET = "s3cret"
SETTINGS = Settings(callback_secret=SECRET, callback_max_attempts=3)


def _ended(store: JobStore, url: str | None = "https://hooks.example/x") -> str:
    doc = new_job("noop", {"n": 1}, 5, 1, callback_url=url)
    store.insert(doc)
    store.mark_queued(doc["_id"], was="pending")
    store.claim(doc["_id"], "run", "w", take_over=False)
    store.finish(doc["_id"], "run", JobStatus.SUCCEEDED, job_type="noop", result={"ok": True})
    return str(doc["_id"])


def _verified(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does with the Switchboard-Signature header."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_the_signature_verifies_with_the_secret_and_not_otherwise() -> None:
    header = callbacks.signature(SECRET, 1_700_000_000, b'{"id":"j"}')
    assert header.startswith("t=1700000000,v1=")
    assert _verified(SECRET, header, b'{"id":"j"}')
    assert not _verified(SECRET, header, b'{"id":"k"}')
    assert not _verified("other", header, b'{"id":"j"}')


def test_the_relay_sends_ended_jobs_with_a_callback_once_per_lease(store: JobStore) -> None:
    ended = _ended(store)
    _ended(store, url=None)
    running = new_job("noop", {}, 5, 1, callback_url="https://hooks.example/y")
    store.insert(running)
    sent: list[str] = []
    now = clock.now()
    assert callbacks.relay(store, sent.append, now) == 1 and sent == [ended]
    # Claimed: the next round leaves it to the worker it went to ...
    assert callbacks.relay(store, sent.append, now) == 0
    # ... until its lease runs out with no word from that worker.
    later = now + timedelta(seconds=callbacks.LEASE_SECONDS + 1)
    assert callbacks.relay(store, sent.append, later) == 1 and sent == [ended, ended]


def test_of_two_relays_that_saw_the_same_due_callback_one_takes_it(store: JobStore) -> None:
    _ended(store)
    now = clock.now()
    [seen] = store.due_callbacks(now, 10)
    [also_seen] = store.due_callbacks(now, 10)
    lease = now + timedelta(seconds=60)
    assert store.claim_callback(seen["_id"], seen["callback_next_at"], lease) is True
    assert store.claim_callback(also_seen["_id"], also_seen["callback_next_at"], lease) is False


def test_a_delivered_callback_is_the_signed_job_and_ends(store: JobStore) -> None:
    job_id = _ended(store)
    posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(url: str, body: bytes, headers: dict[str, str], policy: FetchPolicy) -> int:
        posts.append((url, body, headers))
        return 204

    callbacks.relay(store, lambda _id: None, clock.now())
    assert callbacks.deliver(store, job_id, SETTINGS, post) is True
    [(url, body, headers)] = posts
    job = json.loads(body)
    assert url == "https://hooks.example/x"
    assert (job["id"], job["status"], job["result"]) == (job_id, "succeeded", {"ok": True})
    assert headers["Switchboard-Delivery"] == job_id
    assert _verified(SECRET, headers[callbacks.SIGNATURE], body)
    shown = store.get(job_id)
    assert shown is not None and shown["callback_pending"] is False
    assert shown["callback_sent_at"] is not None
    # Delivered: never sent again.
    far = clock.now() + timedelta(days=1)
    assert callbacks.relay(store, lambda _id: None, far) == 0
    assert callbacks.deliver(store, job_id, SETTINGS, post) is False and len(posts) == 1


def _failing(outcome: Any) -> callbacks.Post:
    def post(url: str, body: bytes, headers: dict[str, str], policy: FetchPolicy) -> int:
        if isinstance(outcome, Exception):
            raise outcome
        return int(outcome)

    return post


@pytest.mark.parametrize(
    ("outcome", "error"),
    [(500, "answered HTTP 500"), (FetchFailed("the connection to h failed"), "connection")],
)
def test_a_failed_try_is_retried_with_backoff_then_given_up(
    store: JobStore, outcome: Any, error: str
) -> None:
    job_id = _ended(store)
    for attempt in range(1, SETTINGS.callback_max_attempts + 1):
        before = clock.now()
        due = before + timedelta(days=attempt)
        assert callbacks.relay(store, lambda _id: None, due) == 1
        assert callbacks.deliver(store, job_id, SETTINGS, _failing(outcome)) is False
        doc = store.get(job_id)
        assert doc is not None and error in (doc["callback_error"] or "")
        assert doc["callback_attempts"] == attempt
        if attempt < SETTINGS.callback_max_attempts:
            assert doc["callback_pending"] is True and doc["callback_next_at"] > before
    assert doc["callback_pending"] is False
    assert callbacks.relay(store, lambda _id: None, clock.now() + timedelta(days=30)) == 0


def test_a_refused_address_is_given_up_at_once(store: JobStore) -> None:
    job_id = _ended(store)
    callbacks.relay(store, lambda _id: None, clock.now())
    refused = FetchRefused("refused: hooks.example is not a public address")
    assert callbacks.deliver(store, job_id, SETTINGS, _failing(refused)) is False
    doc = store.get(job_id)
    assert doc is not None and doc["callback_pending"] is False
    assert doc["callback_attempts"] == 1 and "not a public address" in (doc["callback_error"] or "")


def test_a_job_retried_by_hand_calls_back_again_when_it_ends(store: JobStore) -> None:
    job_id = _ended(store)
    callbacks.relay(store, lambda _id: None, clock.now())
    callbacks.deliver(store, job_id, SETTINGS, _failing(200))
    doc = store.get(job_id)
    assert doc is not None and doc["callback_pending"] is False
    store.jobs.update_one({"_id": job_id}, {"$set": {"status": "failed"}})
    assert store.reopen(job_id) is not None
    doc = store.get(job_id)
    assert doc is not None and doc["callback_pending"] is True and doc["callback_attempts"] == 0


def test_a_real_post_reaches_a_loopback_receiver(store: JobStore) -> None:
    received: Received = []
    with serve(receive(received, status=200)) as port:
        job_id = _ended(store, url=f"http://127.0.0.1:{port}/hook")
        callbacks.relay(store, lambda _id: None, clock.now())
        local = SETTINGS.model_copy(update={"fetch_allow_hosts": ("127.0.0.1",)})
        assert callbacks.deliver(store, job_id, local) is True
    [(headers, body)] = received
    assert json.loads(body)["id"] == job_id
    assert _verified(SECRET, headers[callbacks.SIGNATURE], body)


def test_submitting_a_callback_needs_a_secret_here(client: FlaskClient) -> None:
    reply = client.post("/jobs", json={"type": "noop", "callback_url": "https://h.example/x"})
    assert reply.status_code == 400 and reply.get_json()["field"] == "callback_url"
    assert "CALLBACK_SECRET" in reply.get_json()["error"]
    batch = {"jobs": [{"type": "noop"}, {"type": "noop", "callback_url": "https://h.example/"}]}
    reply = client.post("/jobs/batch", json=batch)
    assert reply.status_code == 400 and reply.get_json()["field"] == "jobs.1.callback_url"


@pytest.mark.parametrize("url", ["ftp://h.example/x", "h.example/x", "http://", "x" * 3000])
def test_a_callback_url_must_be_http_or_https(client: FlaskClient, url: str) -> None:
    reply = client.post("/jobs", json={"type": "noop", "callback_url": url})
    assert reply.status_code == 400 and reply.get_json()["field"] == "callback_url"


def test_a_submitted_callback_shows_on_the_job(
    client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    signing = runtime.settings.model_copy(update={"callback_secret": SECRET})
    monkeypatch.setattr(runtime, "settings", signing)
    reply = client.post("/jobs", json={"type": "noop", "callback_url": "https://h.example/x"})
    assert reply.status_code == 202
    callback = reply.get_json()["callback"]
    assert callback == {
        "url": "https://h.example/x",
        "pending": True,
        "attempts": 0,
        "error": None,
        "sent_at": None,
    }
