"""The job types a deployment knows, by name.

A type is a payload model (validated by the web replicas before anything is stored), a handler
(run by the workers) and, optionally, how long an attempt may run (see `limits`). Register one
with the `job_type` decorator in a module listed in `SWITCHBOARD_JOB_MODULES`; web and workers
import those modules at start.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from services.core.jobs.context import JobContext

P = TypeVar("P", bound=BaseModel)
Handler = Callable[[P, JobContext], Any]


@dataclass(frozen=True)
class JobType:
    name: str
    payload_model: type[BaseModel]
    handler: Callable[[Any, JobContext], Any]
    # Seconds an attempt may run before its soft time limit; None takes JOB_TIME_LIMIT.
    time_limit: float | None = None


_types: dict[str, JobType] = {}


def job_type(
    name: str, payload_model: type[P], time_limit: float | None = None
) -> Callable[[Handler[P]], Handler[P]]:
    """Register the decorated function as the handler of job type `name`."""

    def register(handler: Handler[P]) -> Handler[P]:
        _types[name] = JobType(name, payload_model, handler, time_limit)
        return handler

    return register


def get(name: str) -> JobType | None:
    return _types.get(name)


def names() -> list[str]:
    return sorted(_types)


def load(modules: Iterable[str] = ()) -> None:
    """Import the built-in types and the user's modules, which register theirs on import."""
    importlib.import_module("services.core.jobs.builtin")
    for module in modules:
        importlib.import_module(module)
