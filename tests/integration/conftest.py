"""One real stack for the integration tests: its own RabbitMQ node, MongoDB-speaking server,
two Gunicorn replicas behind Nginx, two Celery workers and beat, on free local ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from services.core import queues
from tests.integration.client import Api
from tools.localstack.stack import FAST_CLOCKS, LocalStack, private_config

TEST_ENV = {
    **FAST_CLOCKS,
    # INFO: a job's events are logged (test_logs reads them from the worker's log).
    "LOG_LEVEL": "INFO",
    "SWITCHBOARD_JOB_MODULES": "tests.integration.jobtypes",
    # The word-count tests fetch from a server of their own on loopback, which is otherwise refused.
    "FETCH_ALLOW_HOSTS": "127.0.0.1",
    # Small time limits for the types test_limits runs past them (the others keep the defaults),
    # and a short grace before the hard limit.
    "JOB_TIME_LIMITS": "hang=2,word_count=4",
    "JOB_TIME_LIMIT_GRACE": "2",
    # Offers lapse fast, two misses send an agent away (test_tickets_offers), an agent that
    # turned a ticket down may be offered it again soon (so the hammer's all settle; longer
    # than a sweep interval, so that the sweep gives a rejected ticket to another agent), and
    # tickets that ask for `itest-escalate` ask for `itest-fallback` after 2 s instead.
    "RESERVATION_TIMEOUT": "2",
    "RESERVATION_MISSES_AWAY": "2",
    "TICKET_REJECT_COOLDOWN": "15",
    "TICKET_ESCALATION": "itest-escalate=2:itest-fallback",
    # test_concurrency: one `nap` at a time across the cluster, one job per concurrency key.
    "TYPE_CONCURRENCY": "nap=1",
    "KEY_CONCURRENCY": "1",
    "THROTTLE_DELAY": "0.2",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = private_config(Path(tmp_path_factory.mktemp("stack")), "test", extra_env=TEST_ENV)
    local = LocalStack(config)
    local.start()
    try:
        assert local.wait_healthy(240), "the test stack did not become healthy:\n" + local.ctl(
            "status"
        )
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    return Api(stack.config.base_url, stack.api_key())


@pytest.fixture(scope="session")
def auth_headers(stack: LocalStack) -> dict[str, str]:
    """The stack's admin key as a bearer token."""
    return stack.auth()


@pytest.fixture
def broker(stack: LocalStack) -> Iterator[Connection]:
    with Connection(stack.config.broker_url) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _empty_job_queues(request: pytest.FixtureRequest) -> None:
    """Each test starts with no job messages left over from another."""
    if "stack" not in request.fixturenames and "api" not in request.fixturenames:
        return
    stack = request.getfixturevalue("stack")
    with Connection(stack.config.broker_url) as conn:
        for queue in (queues.work_queues[0], queues.dead_letter_queue):
            queue.bind(conn.default_channel).purge()
