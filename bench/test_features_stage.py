"""The features stage's arithmetic and its section of docs/benchmarks.md (no stack needed). Beside
the benchmarks, not in tests/: the product's tests never import them; `make test` runs both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench import features, features_report

MACHINE = {"database": "secantusd-rs 0.5.3", "load_average_at_start": [1.0, 1.0, 1.0], "cores": 2}


def _late(p99: float) -> dict[str, Any]:
    return {"n": 100, "p50": p99 / 2, "p99": p99, "max": p99}


def _results(**parts: Any) -> dict[str, Any]:
    tick = {
        "scheduled_waiting": 0,
        "ticks": 10,
        "tick_mean_ms": 2.0,
        "tick_max_ms": 3.0,
        "query_median_ms": 1.5,
    }
    figures = {
        "plan": features.plan(quick=True),
        "data": {"jobs": 20_000, "agents": 200, "tickets": 2_000},
        "relay": {"scheduled": 100_000, "seed_seconds": 7.0, "before": tick, "after": tick},
        "due": {"n": 100, "start_late_s": _late(0.8), "queue_late_s": _late(0.7)},
        "wait": {
            "n": 100,
            "poll_interval_s": 0.2,
            "answer_late_s": _late(0.03),
            "answered_unfinished": [],
            "errors": 0,
        },
        "rate_limit": {"skipped": "no rate limit in Settings"},
        "measured_at": "2026-11-24T10:00:00+00:00",
        **parts,
    }
    return {"machine": MACHINE, "features": figures}


def _row(lines: list[str], starts: str) -> str:
    return next(line for line in lines if line.startswith(f"| {starts}"))


def test_percentiles_take_the_nearest_rank() -> None:
    got = features.percentiles([float(v) for v in range(100, 0, -1)])
    assert got == {"n": 100, "p50": 50.5, "p99": 99.0, "max": 100.0}
    assert features.percentiles([]) == {"n": 0, "p50": None, "p99": None, "max": None}


def test_each_figure_is_judged_against_its_own_target() -> None:
    lines = features_report.render(_results())
    assert _row(lines, "100,000 scheduled").endswith("| met |")
    assert _row(lines, "due jobs").endswith("| met |")
    assert _row(lines, "`?wait=`").endswith("| met |")
    assert "not measured: no rate limit in Settings" in _row(lines, "a rate limit")
    assert _row(lines, "a rate limit").endswith("| not measured |")


def test_figures_over_their_targets_are_missed() -> None:
    relay = _results()["features"]["relay"]
    slow = {**relay, "after": {**relay["after"], "tick_mean_ms": 5.0}}
    wait = {**_results()["features"]["wait"], "answer_late_s": _late(0.051)}
    lines = features_report.render(
        _results(
            relay=slow,
            due={**_results()["features"]["due"], "start_late_s": _late(1.01)},
            wait=wait,
        )
    )
    for row in ("100,000 scheduled", "due jobs", "`?wait=`"):
        assert _row(lines, row).endswith("| **missed** |")


def test_a_part_that_failed_says_why_and_is_not_judged() -> None:
    lines = features_report.render(_results(due={"failed": "TimeoutError()"}))
    assert "failed: `TimeoutError()`" in _row(lines, "due jobs")
    assert _row(lines, "due jobs").endswith("| not measured |")


def test_a_run_without_the_stage_has_no_section() -> None:
    assert features_report.render({"machine": MACHINE}) == []


def _starts(per_second: int, seconds: int) -> list[datetime]:
    t0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    return [
        t0 + timedelta(seconds=s + i / per_second)
        for s in range(seconds)
        for i in range(per_second)
    ]


def test_rate_figures_count_the_starts_in_the_window_after_the_warm_up() -> None:
    got = features.rate_figures(_starts(features.RATE, 40), 20.0)
    assert got == {
        "starts": 20 * features.RATE,
        "per_s": features.RATE,
        "deviation": 0.0,
        "busiest_second": features.RATE,
        "backlog_lasted": True,
    }
    short = features.rate_figures(_starts(features.RATE, 20), 20.0)
    assert short["backlog_lasted"] is False
    assert features.rate_figures([], 20.0)["per_s"] is None


def _rate(**figures: Any) -> dict[str, Any]:
    base = {
        "rate": 10,
        "type": "tally",
        "window_s": 60,
        "n": 750,
        "starts": 600,
        "per_s": 10.0,
        "deviation": 0.0,
        "busiest_second": 10,
        "backlog_lasted": True,
    }
    return {**base, **figures}


def test_a_rate_within_5_percent_is_met_and_beyond_it_missed() -> None:
    met = features_report.render(_results(rate_limit=_rate(deviation=-0.05)))
    assert _row(met, "a rate limit").endswith("| met |")
    missed = features_report.render(_results(rate_limit=_rate(deviation=0.06)))
    assert _row(missed, "a rate limit").endswith("| **missed** |")
    ran_out = features_report.render(_results(rate_limit=_rate(backlog_lasted=False)))
    assert "the backlog ran out" in _row(ran_out, "a rate limit")
    assert _row(ran_out, "a rate limit").endswith("| not measured |")
