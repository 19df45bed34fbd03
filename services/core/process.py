"""What is one per process: replacing it with a program, and objects a fork must not share."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")


def per_process(make: Callable[[], T]) -> Callable[[], T]:
    """`make()` once per process: a forked child makes its own, as connections and threads
    do not survive a fork."""
    lock = threading.Lock()
    made: list[tuple[int, T]] = []

    def get() -> T:
        with lock:
            if not made or made[0][0] != os.getpid():
                made[:] = [(os.getpid(), make())]
            return made[0][1]

    return get


def exec_module(module: str, *args: str) -> NoReturn:
    """Become `python -m module args…` in this interpreter, keeping the pid supervisors watch."""
    os.execvp(sys.executable, [sys.executable, "-m", module, *args])


def exec_celery(command: str, *args: str) -> NoReturn:
    """Become a Celery program (worker, beat, flower) of the Switchboard app."""
    # --quiet: no start-up banner on stdout, so every line a process writes is a JSON log line.
    exec_module("celery", "--quiet", "-A", "services.core.celery_app", command, *args)
