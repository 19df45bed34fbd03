"""The simulator's report: waits per skill set and over the run, from the tickets as the API
shows them (no stack needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools.simulator.report import by_skill_set, markdown, over_time, skill_set, write_chart

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SLA = {"voice": 20.0, "text": 120.0}


def _ticket(
    channel: str, skills: list[str], arrived: float, wait: float | None, preferred: Any = ()
) -> dict[str, Any]:
    created = T0 + timedelta(seconds=arrived)
    assigned = None if wait is None else (created + timedelta(seconds=wait)).isoformat()
    return {
        "channel": channel,
        "skills": skills,
        "preferred_skills": list(preferred),
        "created_at": created.isoformat(),
        "assigned_at": assigned,
    }


def test_a_skill_set_is_what_was_asked_for_before_any_widening() -> None:
    assert skill_set(_ticket("voice", ["fr", "billing"], 0, 1)) == "voice: billing+fr"
    assert skill_set(_ticket("text", [], 0, 1)) == "text: (any)"
    widened = _ticket("voice", ["support"], 0, 1, preferred=["vip"])
    assert skill_set(widened) == "voice: vip"


def test_waits_and_the_share_within_sla_per_skill_set_slowest_first() -> None:
    tickets = [
        *(_ticket("voice", ["fr"], i, w) for i, w in enumerate([1.0, 2.0, 30.0, 4.0])),
        _ticket("voice", ["fr"], 5, None),  # never assigned: counted, not timed
        *(_ticket("text", ["de"], i, w) for i, w in enumerate([100.0, 130.0])),
    ]
    rows = by_skill_set(tickets, SLA)
    assert [r["skill_set"] for r in rows] == ["text: de", "voice: fr"]
    text, voice = rows
    assert (voice["tickets"], voice["assigned"], voice["max"]) == (5, 4, 30.0)
    assert voice["p50"] == 2.0 and voice["within_sla"] == 0.75
    assert (text["tickets"], text["within_sla"], text["p99"]) == (2, 0.5, 130.0)


def test_waits_over_the_run_are_grouped_by_arrival() -> None:
    tickets = [
        _ticket("voice", [], 0, 1.0),
        _ticket("voice", [], 29.9, 3.0),
        _ticket("voice", [], 30.0, 10.0),
        _ticket("voice", [], 95.0, 2.0),
        _ticket("voice", [], 96.0, None),
    ]
    rows = over_time(tickets, bucket=30.0)
    assert [(r["from_s"], r["tickets"], r["max"]) for r in rows] == [
        (0.0, 2, 3.0),
        (30.0, 1, 10.0),
        (90.0, 1, 2.0),
    ]
    assert over_time([]) == []


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    report = {
        "over_time": over_time([_ticket("voice", [], s, s / 10) for s in range(0, 300, 7)]),
        "options": {"agents": 3, "tickets": 43, "rate": 1.0},
    }
    path = tmp_path / "waits.png"
    write_chart(report, path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_page_has_the_figures_the_skill_sets_and_the_chart() -> None:
    tickets = [_ticket("voice", ["fr"], 0, 2.0), _ticket("text", [], 1, 50.0)]
    report = {
        "options": {
            "agents": 2,
            "tickets": 2,
            "rate": 1.0,
            "handle": [1.0, 6.0],
            "skills": ["fr"],
        },
        "wait_seconds": {"p50": 2.0, "p90": 50.0, "p99": 50.0, "max": 50.0},
        "tickets": {"created": 2, "completed": 2, "cancelled": 0, "unresolved": 0},
        "seconds": 60.0,
        "throughput_per_second": 0.03,
        "mean_occupancy": {"voice": 0.5, "text": 0.25},
        "invariant_violations": 0,
        "by_skill_set": by_skill_set(tickets, SLA),
        "load_average": {"start": [1.0, 1.0, 1.0], "end": [2.0, 1.0, 1.0]},
        "chart": "run.png",
    }
    page = markdown(report)
    assert "| text: (any) | 1 | 50.00 | 50.00 | 50.00 | 50.00 | 100.0% |" in page
    assert "| voice: fr | 1 | 2.00 |" in page and "p99 50.000 s" in page
    assert page.rstrip().endswith("(run.png)") and "1.0, 1.0, 1.0 at the start" in page
