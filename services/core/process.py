"""Replacing the current process with the program a process type runs."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def exec_module(module: str, *args: str) -> NoReturn:
    """Become `python -m module args…` in this interpreter, keeping the pid supervisors watch."""
    os.execvp(sys.executable, [sys.executable, "-m", module, *args])


def exec_celery(command: str, *args: str) -> NoReturn:
    """Become a Celery program (worker, beat, flower) of the Switchboard app."""
    exec_module("celery", "-A", "services.core.celery_app", command, *args)
