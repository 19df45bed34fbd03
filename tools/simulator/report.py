"""The end-of-run report: throughput, waits, occupancy and invariants, as data and a table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from services.core.tickets.stats import percentile
from tools.oracles.ticket_invariants import Violation
from tools.simulator.plan import Options

Doc = dict[str, Any]


def _t(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


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
    waits = sorted(
        (_t(t["assigned_at"]) - _t(t["created_at"])).total_seconds()  # type: ignore[operator]
        for t in tickets
        if t["assigned_at"]
    )
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
        "wait_seconds": {
            "p50": percentile(waits, 0.5),
            "p90": percentile(waits, 0.9),
            "p99": percentile(waits, 0.99),
            "max": waits[-1] if waits else None,
        },
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
    for line in report["violations"] + report["http_errors"]:
        console.print(f"  {line}")
