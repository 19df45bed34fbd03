"""The four faults a drill injects, each a break and a heal on a running local stack."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from tools.localstack.resources import running_programs
from tools.localstack.stack import LocalStack

Action = Callable[[LocalStack], None]


def kill_tree(stack: LocalStack, program: str) -> int:
    """SIGKILL a supervised program and all its children at once, as the OOM killer would."""
    pid = running_programs(stack)[program]
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return len(procs)


def wait_running(stack: LocalStack, program: str, timeout: float = 120) -> None:
    """Until supervisord has restarted the program (it restarts whatever dies)."""
    deadline = time.monotonic() + timeout
    while program not in running_programs(stack):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{program} was not restarted within {timeout:.0f}s")
        time.sleep(0.2)


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    inject: Action
    heal: Action


def _kill(program: str) -> Action:
    def inject(stack: LocalStack) -> None:
        kill_tree(stack, program)

    return inject


def _wait(program: str) -> Action:
    def heal(stack: LocalStack) -> None:
        wait_running(stack, program)

    return heal


def _ctl(verb: str, program: str) -> Action:
    def act(stack: LocalStack) -> None:
        stack.ctl(verb, program)

    return act


FAULTS = (
    Fault(
        "worker-kill",
        "kill -9 a worker (its Celery main process and pool child)",
        _kill("worker-1"),
        _wait("worker-1"),
    ),
    Fault(
        "rabbitmq-restart",
        "stop RabbitMQ, then start it",
        _ctl("stop", "rabbitmq"),
        _ctl("start", "rabbitmq"),
    ),
    Fault(
        "database-restart",
        "stop the database, then start it",
        _ctl("stop", "mongodb"),
        _ctl("start", "mongodb"),
    ),
    Fault(
        "web-kill",
        "kill -9 one web replica (Gunicorn master and workers)",
        _kill("web-1"),
        _wait("web-1"),
    ),
)


def by_name(name: str) -> Fault:
    return next(f for f in FAULTS if f.name == name)
