"""Benchmark 5: resident memory per process type, at rest and at its peak under load.

Each supervised program counts with all its children (Gunicorn workers, Celery pool processes,
RabbitMQ's Erlang VM); RSS counts shared pages in every process that maps them, so the sums are
an upper bound of what each type really needs.
"""

from __future__ import annotations

import re
from typing import Any

import psutil

from services.core.ticker import Ticker
from tools.localstack.stack import LocalStack

_STATUS = re.compile(r"^(\S+)\s+RUNNING\s+pid (\d+)", re.MULTILINE)
MIB = 2**20


def process_type(program: str) -> str:
    """web-1 → web, worker-2 → worker; epmd is part of RabbitMQ; mongodb is the database."""
    if program == "epmd":
        return "rabbitmq"
    if program == "mongodb":
        return "database"
    return program.split("-")[0]


def running_programs(stack: LocalStack) -> dict[str, int]:
    return {name: int(pid) for name, pid in _STATUS.findall(stack.ctl("status"))}


def _tree_rss(pid: int) -> tuple[int, int]:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total, len(procs)


def sample(stack: LocalStack) -> dict[str, dict[str, float]]:
    """Per process type: total RSS in MiB and how many processes."""
    out: dict[str, dict[str, float]] = {}
    for program, pid in running_programs(stack).items():
        rss, count = _tree_rss(pid)
        entry = out.setdefault(process_type(program), {"rss_mib": 0.0, "processes": 0})
        entry["rss_mib"] += rss / MIB
        entry["processes"] += count
    return {
        k: {"rss_mib": round(v["rss_mib"], 1), "processes": v["processes"]} for k, v in out.items()
    }


class PeakSampler:
    """Samples in the background while a load runs; keeps each type's largest total."""

    def __init__(self, stack: LocalStack, interval: float = 1.0) -> None:
        self.stack = stack
        self.peak: dict[str, dict[str, float]] = {}
        self._ticker = Ticker(self._sample, interval, name="rss-sampler")

    def __enter__(self) -> PeakSampler:
        self._ticker.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.__exit__(*exc)

    def _sample(self) -> None:
        for kind, now in sample(self.stack).items():
            best = self.peak.get(kind)
            if best is None or now["rss_mib"] > best["rss_mib"]:
                self.peak[kind] = now


def table(at_rest: dict[str, Any], under_load: dict[str, Any]) -> list[dict[str, Any]]:
    order = ["web", "worker", "beat", "flower", "nginx", "rabbitmq", "database"]
    kinds = [k for k in order if k in at_rest or k in under_load]
    kinds += sorted((set(at_rest) | set(under_load)) - set(order))
    return [
        {
            "type": k,
            "processes": at_rest.get(k, under_load.get(k, {})).get("processes"),
            "rest_mib": at_rest.get(k, {}).get("rss_mib"),
            "load_mib": under_load.get(k, {}).get("rss_mib"),
        }
        for k in kinds
    ]
