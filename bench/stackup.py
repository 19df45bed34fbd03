"""A private local stack on free ports, in a temporary folder, for one bench or drill run.

Never the default ports of `make run-prod`, so a developer's own stack keeps running untouched.
"""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.localstack.stack import LocalStack
from services.localstack.topology import StackConfig

# The ports a developer's `make run-prod` uses, which a run must never take.
RESERVED = {8080, 8001, 8002, 5555, 27017, 5672, 15672, 4369}
# Quick clocks so a drill sees redelivery, relay and sweeps within seconds, as the tests do.
DRILL_ENV = {
    "RETRY_BACKOFF_BASE": "0.2",
    "RETRY_BACKOFF_MAX": "1",
    "HEARTBEAT_INTERVAL": "0.5",
    "STALE_AFTER": "5",
    "OUTBOX_GRACE": "2",
    "SWEEP_INTERVAL": "2",
}
BASE_ENV = {"LOG_LEVEL": "WARNING", "SWITCHBOARD_JOB_MODULES": "bench.jobtypes"}


def free_ports(count: int) -> list[int]:
    """Free ports below 40000: RabbitMQ's distribution port is its AMQP port + 20000."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 39999)
        if port in found or port in RESERVED or port + 20000 in RESERVED:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


def bench_config(
    data_dir: Path, workers: int, env: dict[str, str], ferretdb: str = ""
) -> StackConfig:
    http, web1, web2, flower, mongo, amqp, management, epmd = free_ports(8)
    return StackConfig(
        data_dir=data_dir,
        http_port=http,
        web_ports=(web1, web2),
        workers=workers,
        flower_port=flower,
        mongo_port=mongo,
        amqp_port=amqp,
        management_port=management,
        epmd_port=epmd,
        rabbitmq_node=f"sbbench{amqp}",
        mongo_db="switchboard_bench",
        extra_env={**BASE_ENV, **env},
        quiet=True,
        ferretdb=ferretdb,
    )


@contextmanager
def running_stack(
    workers: int = 2, env: dict[str, str] | None = None, ferretdb: str = "", keep: bool = False
) -> Iterator[LocalStack]:
    """Start a whole stack, wait until it serves, and stop it (and its folder) afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    # mkdtemp makes it 0700, but Nginx's workers run as `nobody` and buffer large request and
    # response bodies to files under it: without this, a 250-job batch is answered 500.
    data_dir.chmod(0o755)
    stack = LocalStack(bench_config(data_dir, workers, env or {}, ferretdb))
    stack.start()
    try:
        if not stack.wait_healthy(240):
            raise RuntimeError(
                f"stack not healthy; logs in {data_dir / 'logs'}\n" + stack.ctl("status")
            )
        yield stack
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
