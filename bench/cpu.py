"""Where the CPU goes: CPU time per process type over a measured run, per unit of work.

On a machine whose cores every process shares, the sum per unit is what bounds throughput:
cores / (CPU seconds per job) is the most jobs per second any tuning of one part can reach.
Each supervised program counts with all its children (Gunicorn workers, Celery pool processes,
RabbitMQ's Erlang VM); the load generator (wrk) is not counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import psutil

from tools.localstack import resources
from tools.localstack.stack import LocalStack


def _tree_seconds(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def seconds_by_type(stack: LocalStack, extra: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds so far of each process type of `stack`, and of each `extra` group of pids."""
    out: dict[str, float] = {}
    for program, pid in resources.running_programs(stack).items():
        kind = resources.process_type(program)
        out[kind] = out.get(kind, 0.0) + _tree_seconds(pid)
    for kind, pids in extra.items():
        out[kind] = out.get(kind, 0.0) + sum(_tree_seconds(pid) for pid in pids)
    return out


@contextmanager
def spent(
    stack: LocalStack, extra: Mapping[str, Sequence[int]] | None = None
) -> Iterator[dict[str, float]]:
    """`with spent(stack) as cpu:` fills `cpu` with the CPU seconds each type used in the block."""
    groups = dict(extra or {})
    before = seconds_by_type(stack, groups)
    used: dict[str, float] = {}
    yield used
    after = seconds_by_type(stack, groups)
    used.update({kind: max(after[kind] - before.get(kind, 0.0), 0.0) for kind in after})


def this_process() -> dict[str, list[int]]:
    """The bench process itself, as an `extra` group: where bare Celery's publisher runs."""
    return {"bench (publisher)": [os.getpid()]}


def per_unit(used: Mapping[str, float], units: float) -> dict[str, float]:
    """Milliseconds of CPU per unit of work (request or job), for the types that used any."""
    if units <= 0:
        return {}
    return {
        kind: round(s * 1000 / units, 3) for kind, s in used.items() if s * 1000 / units >= 0.001
    }
