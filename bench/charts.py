"""PNG charts of a bench run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.dbcost import OPERATIONS
from tools.localstack.machine import caption

LABELS = {
    "post_job": "POST /jobs (noop)",
    "post_invalid": "POST /jobs, invalid type (400, no DB write)",
    "seed004": "seed 004's way (new AMQP connection per publish)",
    "get_job": "GET /jobs/<id>",
}
PASSES = (("empty", "-", "empty DB"), ("history", "--", "with history"))


def _finish(fig: Any, machine: dict[str, Any], path: Path) -> None:
    fig.text(0.01, 0.01, caption(machine), fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def submit_chart(
    empty: dict[str, Any], history: dict[str, Any], machine: dict[str, Any], path: Path
) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    colours = dict(zip(LABELS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for key, style, name in PASSES:
        table = {"empty": empty, "history": history}[key]["submit"]["table"]
        for scenario, label in LABELS.items():
            rows = [r for r in table if r["scenario"] == scenario]
            xs = [r["connections"] for r in rows]
            for ax, field in ((left, "rps"), (right, "p99_ms")):
                ax.plot(
                    xs,
                    [r[field]["median"] for r in rows],
                    style,
                    marker="o",
                    color=colours[scenario],
                    label=f"{label}, {name}",
                )
    left.set(
        title="Requests/s answered as meant (median of runs)",
        xlabel="connections",
        ylabel="requests/s",
        yscale="log",
    )
    right.set(title="p99 latency", xlabel="connections", ylabel="ms", yscale="log")
    left.legend(fontsize=6)
    _finish(fig, machine, path)


def endtoend_chart(
    empty: dict[str, Any], history: dict[str, Any], machine: dict[str, Any], path: Path
) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = range(len(PASSES))
    for offset, system, colour in ((-0.2, "switchboard", "#3b7dd8"), (0.2, "bare_celery", "#999")):
        data = [{"empty": empty, "history": history}[k]["endtoend"][system] for k, _, _ in PASSES]
        med = [d["jobs_per_s"]["median"] or 0.0 for d in data]
        err = [
            [m - (d["jobs_per_s"]["min"] or 0.0) for m, d in zip(med, data, strict=True)],
            [(d["jobs_per_s"]["max"] or 0.0) - m for m, d in zip(med, data, strict=True)],
        ]
        label = "Switchboard (state in MongoDB)" if system == "switchboard" else "bare Celery"
        ax.bar([x + offset for x in xs], med, 0.4, yerr=err, capsize=5, color=colour, label=label)
    ax.set_xticks(list(xs), [f"{name}\n({_jobs(p, empty, history)} jobs)" for p, _, name in PASSES])
    e = empty["endtoend"]
    ax.set(title=f"End to end: {e['n']} noop jobs, {e['workers']} workers", ylabel="jobs/s")
    ax.legend()
    _finish(fig, machine, path)


def _jobs(key: str, empty: dict[str, Any], history: dict[str, Any]) -> str:
    return f"{ ({'empty': empty, 'history': history}[key]['data']['jobs']):,}"


def dbcost_chart(rows: list[dict[str, Any]], machine: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    xs = [r["history_jobs"] for r in rows]
    for key, label in OPERATIONS.items():
        # An operation that timed out leaves a gap in its line.
        ys = [float("nan") if r[key] is None else r[key] for r in rows]
        ax.plot(xs, ys, marker="o", label=label)
    ax.set(
        title="Cost per operation against finished jobs in the database (median)",
        xlabel="finished jobs of history (agents and tickets in proportion)",
        ylabel="ms",
        yscale="log",
    )
    # Symmetric log: the empty database (0) sits on the same axis as a million.
    ax.set_xscale("symlog", linthresh=min((x for x in xs if x), default=1))
    ax.set_xlim(left=0)
    ax.legend(fontsize=7)
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
