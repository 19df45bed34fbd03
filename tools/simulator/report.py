"""The end-of-run report: throughput, waits, occupancy and invariants, as data and tables; waits
per skill set and over the run, and a chart of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.core.config import Settings
from services.core.documents import Doc
from services.core.tickets.stats import percentile
from tools.oracles.ticket_invariants import Violation
from tools.simulator.plan import Options

# Arrivals are grouped into this many seconds for the waits over time.
BUCKET_SECONDS = 30.0


def _t(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _wait(ticket: Doc) -> float | None:
    if not ticket.get("assigned_at"):
        return None
    return (_t(ticket["assigned_at"]) - _t(ticket["created_at"])).total_seconds()  # type: ignore[operator]


def _percentiles(waits: list[float]) -> Doc:
    waits = sorted(waits)
    return {
        "p50": percentile(waits, 0.5),
        "p90": percentile(waits, 0.9),
        "p99": percentile(waits, 0.99),
        "max": waits[-1] if waits else None,
    }


def skill_set(ticket: Doc) -> str:
    """The skills the ticket asked for (before any escalation widened them), by channel."""
    asked = ticket.get("preferred_skills") or ticket["skills"]
    return f"{ticket['channel']}: {'+'.join(sorted(asked)) or '(any)'}"


def by_skill_set(tickets: Sequence[Doc], sla: Mapping[str, float]) -> list[Doc]:
    """Per skill set: how many, waits to assign, and the share assigned within its channel's
    SLA; the slowest p99 first."""
    groups: dict[str, list[Doc]] = defaultdict(list)
    for ticket in tickets:
        groups[skill_set(ticket)].append(ticket)
    rows = []
    for name, group in groups.items():
        waits = [w for w in map(_wait, group) if w is not None]
        limit = sla.get(group[0]["channel"])
        within = sum(1 for w in waits if limit is not None and w <= limit)
        rows.append(
            {
                "skill_set": name,
                "tickets": len(group),
                "assigned": len(waits),
                **_percentiles(waits),
                "within_sla": round(within / len(waits), 4) if waits and limit else None,
            }
        )
    return sorted(rows, key=lambda r: (-(r["p99"] or 0.0), r["skill_set"]))


def over_time(tickets: Sequence[Doc], bucket: float = BUCKET_SECONDS) -> list[Doc]:
    """Waits to assign by when the tickets arrived: one row per `bucket` seconds of the run."""
    arrived = [(_t(t["created_at"]), _wait(t)) for t in tickets]
    if not arrived:
        return []
    start = min(a for a, _ in arrived if a is not None)
    buckets: dict[int, list[float]] = defaultdict(list)
    for at, wait in arrived:
        if at is not None and wait is not None:
            buckets[int((at - start).total_seconds() // bucket)].append(wait)
    return [
        {"from_s": i * bucket, "tickets": len(buckets[i]), **_percentiles(buckets[i])}
        for i in sorted(buckets)
    ]


def build(
    tally: Any,
    agents: Sequence[Doc],
    tickets: Sequence[Doc],
    final: list[Violation],
    elapsed: float,
    options: Options,
    server_stats: Any,
) -> Doc:
    completed = [t for t in tickets if t["status"] == "completed"]
    cancelled = [t for t in tickets if t["status"] == "cancelled"]
    unresolved = len(tally.created) - len(completed) - len(cancelled)
    waits = sorted(w for w in map(_wait, tickets) if w is not None)
    # Seen held by another agent than the one it went to: two reservations raced, one lost.
    contended = sum(1 for t in tickets if tally.held_by.get(t["id"]) not in (None, t["agent_id"]))
    occupancy = {
        channel: sum(s.get(channel, 0.0) for s in tally.occupancy) / len(tally.occupancy)
        for channel in ("voice", "text")
        if tally.occupancy
    }
    violations = [*tally.violations, *(str(v) for v in final)]
    return {
        "agents": len(agents),
        "tickets": {
            "created": len(tally.created),
            "completed": len(completed),
            "cancelled": len(cancelled),
            "unresolved": unresolved,
            "refused": len(tally.http_errors),
        },
        "seconds": round(elapsed, 1),
        "throughput_per_second": round(len(completed) / elapsed, 2) if elapsed else 0.0,
        "wait_seconds": _percentiles(waits),
        # Against the server's default SLAs (TICKET_SLA), which the simulator cannot read.
        "by_skill_set": by_skill_set(tickets, Settings().ticket_sla),
        "over_time": over_time(tickets),
        "mean_occupancy": {c: round(v, 3) for c, v in occupancy.items()},
        "contended_reservations": contended,
        "invariant_violations": len(violations),
        "violations": violations[:20],
        "http_errors": tally.http_errors[:10],
        "server_stats": server_stats,
        "options": {
            "agents": options.agents,
            "tickets": options.tickets,
            "rate": options.rate,
            "handle": list(options.handle),
            "duration": options.duration,
            "skills": list(options.skills),
        },
    }


def ok(report: Doc) -> bool:
    return report["invariant_violations"] == 0 and report["tickets"]["unresolved"] == 0


def show(report: Doc, console: Console) -> None:
    table = Table(title="Switchboard ticket simulation", show_header=False)
    t = report["tickets"]
    w = report["wait_seconds"]

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}s"

    rows = [
        ("agents", str(report["agents"])),
        (
            "tickets",
            f"{t['created']} created, {t['completed']} completed, {t['cancelled']} cancelled",
        ),
        ("unresolved", str(t["unresolved"])),
        ("requests refused", str(t["refused"])),
        ("duration", f"{report['seconds']}s"),
        ("throughput", f"{report['throughput_per_second']} tickets/s completed"),
        (
            "wait to assign",
            "  ".join(f"{k} {secs(w[k])}" for k in ("p50", "p90", "p99", "max")),
        ),
        ("mean occupancy", "  ".join(f"{c} {v:.1%}" for c, v in report["mean_occupancy"].items())),
        ("invariant violations", str(report["invariant_violations"])),
        ("verdict", "PASS" if ok(report) else "FAIL"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(_skill_table(report.get("by_skill_set", [])))
    for line in report["violations"] + report["http_errors"]:
        console.print(f"  {line}")


def _skill_table(rows: list[Doc]) -> Table:
    table = Table(title="Time to assign by skill set (s)")
    for column in ("skill set", "tickets", "p50", "p90", "p99", "max", "within SLA"):
        table.add_column(column, justify="left" if column == "skill set" else "right")
    for r in rows:
        cells = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("p50", "p90", "p99", "max")]
        sla = "-" if r["within_sla"] is None else f"{r['within_sla']:.1%}"
        table.add_row(r["skill_set"], str(r["tickets"]), *cells, sla)
    return table


def write_chart(report: Doc, path: Path) -> None:
    """A PNG of the waits to assign over the run: p50, p90 and p99 per arrival bucket."""
    # Here, not at the top: only a run that writes its report draws.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["over_time"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = [(r["from_s"] + BUCKET_SECONDS / 2) / 60 for r in rows]
    for key in ("p50", "p90", "p99"):
        ax.plot(x, [r[key] for r in rows], label=key, marker=".")
    o = report["options"]
    ax.set_title(
        f"Time to assign over the run: {o['agents']} agents, {o['tickets']:,} tickets "
        f"at {o['rate']:g}/s"
    )
    ax.set_xlabel(f"minutes into the run (tickets grouped by arrival, {BUCKET_SECONDS:g} s)")
    ax.set_ylabel("seconds to assign")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(report: Doc) -> str:
    """The report as a page: the figures, then the waits per skill set, then the chart."""
    o, w, t = report["options"], report["wait_seconds"], report["tickets"]
    load = report.get("load_average")
    lines = [
        f"# Ticket simulation: {o['agents']} agents, {o['tickets']:,} tickets at {o['rate']:g}/s",
        "",
        "Written by `python -m tools.simulator ... --json` (`make simulate`), against a local "
        f"stack; handle time {o['handle'][0]:g}-{o['handle'][1]:g} s, skills "
        f"{', '.join(o['skills'])}.",
        *(
            [
                f"Load average (1, 5, 15 min) {', '.join(map(str, load['start']))} at the start, "
                f"{', '.join(map(str, load['end']))} at the end: the stack, the simulator and "
                "anything else on the machine share its cores."
            ]
            if load
            else []
        ),
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| tickets | {t['created']:,} created, {t['completed']:,} completed, "
        f"{t['cancelled']:,} cancelled, {t['unresolved']} unresolved |",
        f"| run | {report['seconds']} s, {report['throughput_per_second']} completed/s |",
        "| time to assign | "
        + ", ".join(f"{k} {w[k]:.3f} s" for k in ("p50", "p90", "p99", "max") if w[k] is not None)
        + " |",
        "| mean occupancy | "
        + ", ".join(f"{c} {v:.1%}" for c, v in report["mean_occupancy"].items())
        + " |",
        f"| invariant violations | {report['invariant_violations']} |",
        "",
        "## Time to assign by skill set",
        "",
        "What each ticket asked for (before any escalation widened it); within SLA: assigned "
        "within the server's default SLA of its channel.",
        "",
        "| skill set | tickets | p50 s | p90 s | p99 s | max s | within SLA |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report.get("by_skill_set", []):
        cells = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("p50", "p90", "p99", "max")]
        sla = "-" if r["within_sla"] is None else f"{r['within_sla']:.1%}"
        lines.append(f"| {r['skill_set']} | {r['tickets']} | {' | '.join(cells)} | {sla} |")
    return "\n".join([*lines, "", "![waits over the run](" + report["chart"] + ")", ""])
