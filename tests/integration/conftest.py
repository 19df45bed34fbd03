"""One real stack for the integration tests: its own RabbitMQ node, MongoDB-speaking server,
two Gunicorn replicas behind Nginx, two Celery workers and beat, on free local ports."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from services.core import queues
from services.localstack.stack import LocalStack
from services.localstack.topology import StackConfig
from tests.integration.client import Api

# Short clocks so retries, heartbeats and sweeps happen within a test.
TEST_ENV = {
    "RETRY_BACKOFF_BASE": "0.2",
    "RETRY_BACKOFF_MAX": "1",
    "HEARTBEAT_INTERVAL": "0.5",
    "STALE_AFTER": "5",
    "OUTBOX_GRACE": "2",
    "SWEEP_INTERVAL": "2",
    "LOG_LEVEL": "WARNING",
    "SWITCHBOARD_JOB_MODULES": "tests.integration.jobtypes",
}


def _free_ports(count: int) -> list[int]:
    """Free ports below 40000: RabbitMQ's distribution port is its AMQP port + 20000."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 39999)
        with socket.socket() as sock:
            if port in found or sock.connect_ex(("127.0.0.1", port)) == 0:
                continue
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    http, web1, web2, flower, mongo, amqp, management, epmd = _free_ports(8)
    config = StackConfig(
        data_dir=Path(tmp_path_factory.mktemp("stack")),
        http_port=http,
        web_ports=(web1, web2),
        flower_port=flower,
        mongo_port=mongo,
        amqp_port=amqp,
        management_port=management,
        epmd_port=epmd,
        rabbitmq_node=f"sbtest{amqp}",
        mongo_db="switchboard_test",
        extra_env=TEST_ENV,
        quiet=True,
    )
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
    return Api(stack.config.base_url)


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
