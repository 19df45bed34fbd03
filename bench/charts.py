"""PNG charts of a bench run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.machine import caption

LABELS = {
    "post_job": "POST /jobs (noop)",
    "post_invalid": "POST /jobs, invalid type (400, no DB write)",
    "get_job": "GET /jobs/<id>",
}


def _finish(fig: Any, machine: dict[str, Any], path: Path) -> None:
    fig.text(0.01, 0.01, caption(machine), fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _errorbar(ax: Any, xs: list[float], rows: list[dict[str, Any]], key: str, label: str) -> None:
    med = [r[key]["median"] for r in rows]
    low = [m - r[key]["min"] for m, r in zip(med, rows, strict=True)]
    high = [r[key]["max"] - m for m, r in zip(med, rows, strict=True)]
    ax.errorbar(xs, med, yerr=[low, high], marker="o", capsize=4, label=label)


def submit_chart(submit: dict[str, Any], machine: dict[str, Any], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for scenario, label in LABELS.items():
        rows = [r for r in submit["table"] if r["scenario"] == scenario]
        xs = [r["connections"] for r in rows]
        _errorbar(left, xs, rows, "rps", label)
        _errorbar(right, xs, rows, "p99_ms", label)
    left.axhline(1000, color="grey", linestyle=":", label="target: 1,000 req/s")
    left.set(
        title="Requests/s through Nginx (median, min-max)",
        xlabel="connections",
        ylabel="requests/s",
        yscale="log",
    )
    right.set(title="p99 latency", xlabel="connections", ylabel="ms", yscale="log")
    left.legend(fontsize=7)
    _finish(fig, machine, path)


def endtoend_chart(e2e: dict[str, Any], machine: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = ["Switchboard\n(state in MongoDB)", "bare Celery\n(no state)"]
    data = [e2e["switchboard"]["jobs_per_s"], e2e["bare_celery"]["jobs_per_s"]]
    med = [d["median"] for d in data]
    err = [
        [m - d["min"] for m, d in zip(med, data, strict=True)],
        [d["max"] - m for m, d in zip(med, data, strict=True)],
    ]
    ax.bar(names, med, yerr=err, capsize=6, color=["#3b7dd8", "#999999"])
    ax.set(
        title=f"End to end: {e2e['n']} noop jobs, {e2e['workers']} workers "
        f"(ratio {100 * e2e['ratio']['median']:.0f}%)",
        ylabel="jobs/s",
    )
    _finish(fig, machine, path)


def priority_chart(prio: dict[str, Any], machine: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = prio["runs"]
    names = [f"run {i + 1}" for i in range(len(runs))]
    xs = range(len(runs))
    whole = [100 * r["backlog_done_before_last_high"] for r in runs]
    waiting = [100 * r["waiting_backlog_done_before_last_high"] for r in runs]
    ax.bar([x - 0.2 for x in xs], whole, 0.4, color="#bbbbbb", label="of the whole backlog")
    ax.bar([x + 0.2 for x in xs], waiting, 0.4, color="#3b7dd8", label="of the backlog waiting")
    ax.set_xticks(list(xs), names)
    shares = whole + waiting
    ax.axhline(5, color="grey", linestyle=":", label="target: <= 5%")
    ax.set(
        title=f"Share of a {prio['backlog']}-job backlog finished before the last of "
        f"{prio['high']} high-priority jobs",
        ylabel="% of backlog",
        ylim=(0, max(10, *shares)),
    )
    ax.title.set_fontsize(9)
    ax.legend()
    _finish(fig, machine, path)


def resources_chart(rows: list[dict[str, Any]], machine: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    kinds = [r["type"] for r in rows]
    xs = range(len(kinds))
    ax.bar([x - 0.2 for x in xs], [r["rest_mib"] or 0 for r in rows], 0.4, label="at rest")
    ax.bar([x + 0.2 for x in xs], [r["load_mib"] or 0 for r in rows], 0.4, label="peak under load")
    ax.set_xticks(list(xs), kinds)
    ax.set(title="Resident memory per process type (all its processes)", ylabel="MiB")
    ax.legend()
    _finish(fig, machine, path)
