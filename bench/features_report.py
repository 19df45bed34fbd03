"""The section of docs/benchmarks.md with issue 11's job features, beside their targets."""

from __future__ import annotations

from typing import Any

from bench.features import SCHEDULED, TARGETS, WAIT_SLEEP_S


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**missed**")


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{1000 * seconds:,.0f} ms"


def _num(x: float | None, unit: str = "", digits: int = 2) -> str:
    return "—" if x is None else f"{x:,.{digits}f}{unit}"


def _where(f: dict[str, Any], m: dict[str, Any]) -> list[str]:
    d = f["data"]
    alone = f.get("alone")
    how = (
        "run alone (`python -m bench.run --only features`) on a stack of its own"
        if alone
        else "the last stage of the run above, on the same stack"
    )
    machine = alone["machine"] if alone else m
    return [
        f"- How: {how}; {'`--quick` sizes' if f['plan']['due_n'] < 300 else 'full sizes'}",
        f"- Database: **{machine['database']}**",
        f"- Data when the stage began: {d['jobs']:,} jobs (finished history), {d['agents']:,} "
        f"agents, {d['tickets']:,} tickets; plus the {SCHEDULED:,} scheduled jobs "
        "it writes (deleted afterwards)",
        f"- Load average when the run started: "
        f"{', '.join(map(str, machine['load_average_at_start']))} on {machine['cores']} cores "
        "shared with other processes"
        + (
            f"; at the end {', '.join(map(str, f['load_average_at_end']))}"
            if "load_average_at_end" in f
            else ""
        ),
        f"- Code: {machine.get('code', 'not recorded')}; measured {f['measured_at']}",
    ]


def _relay_row(relay: dict[str, Any]) -> tuple[str, str, bool | None]:
    after, before = relay["after"], relay["before"]
    tick = after["tick_mean_ms"]
    return (
        f"{_num(tick, ' ms')} mean per tick over {after['ticks']} ticks (longest "
        f"{_num(after['tick_max_ms'], ' ms')}); its query {_num(after['query_median_ms'], ' ms')}",
        f"no scheduled jobs: {_num(before['tick_mean_ms'], ' ms')} per tick over "
        f"{before['ticks']} ticks; query {_num(before['query_median_ms'], ' ms')}",
        None if tick is None else tick < TARGETS["relay_tick_ms"],
    )


def _due_row(due: dict[str, Any]) -> tuple[str, str, bool | None]:
    late, queued = due["start_late_s"], due["queue_late_s"]
    return (
        f"p99 {_ms(late['p99'])} late, p50 {_ms(late['p50'])}, worst {_ms(late['max'])} "
        f"({late['n']} of {due['n']} jobs started)",
        f"marked queued by the relay: p99 {_ms(queued['p99'])}, p50 {_ms(queued['p50'])} "
        f"({queued['n']} jobs; a worker may claim one first)",
        None if late["p99"] is None else late["p99"] <= TARGETS["due_p99_s"],
    )


def _wait_row(wait: dict[str, Any]) -> tuple[str, str, bool | None]:
    late = wait["answer_late_s"]
    errors = wait.get("errors", 0)
    unfinished = len(wait["answered_unfinished"]) - errors
    early = f"; {unfinished} answered before the job ended" if unfinished else ""
    early += f"; {errors} requests failed" if errors else ""
    return (
        f"p99 {_ms(late['p99'])}, p50 {_ms(late['p50'])}, worst {_ms(late['max'])} "
        f"({late['n']} answers{early})",
        f"the web process checks its waiting jobs every {_ms(wait['poll_interval_s'])}",
        None if late["p99"] is None else 1000 * late["p99"] <= TARGETS["wait_p99_ms"],
    )


def _rate_row(rate: dict[str, Any]) -> tuple[str, str, bool | None]:
    if "skipped" in rate:
        return (f"not measured: {rate['skipped']}", "—", None)
    deviation = rate["deviation"]
    ran_out = "" if rate["backlog_lasted"] else "; **the backlog ran out inside the window**"
    return (
        f"{_num(rate['per_s'])} starts/s over {rate['window_s']:g} s "
        f"({_num(None if deviation is None else 100 * deviation, '%', 1)} from the limit; "
        f"busiest second {rate['busiest_second']}){ran_out}",
        f"limit {rate['rate']}/s on `{rate['type']}`, a backlog of {rate['n']} jobs",
        None
        if deviation is None or not rate["backlog_lasted"]
        else abs(deviation) <= TARGETS["rate_within"],
    )


ROWS = (
    ("relay", f"100,000 scheduled jobs waiting cost the relay < {TARGETS['relay_tick_ms']:g} ms "
     "per tick", _relay_row),
    ("due", f"due jobs start within {TARGETS['due_p99_s']:g} s of `run_at` (p99)", _due_row),
    ("rate_limit", f"a rate limit of R/s holds within {100 * TARGETS['rate_within']:g}% over 60 s",
     _rate_row),
    ("wait", f"`?wait=` answers within {TARGETS['wait_p99_ms']:g} ms of the job ending (p99)",
     _wait_row),
)  # fmt: skip


def _target_rows(f: dict[str, Any]) -> list[str]:
    lines = [
        "| target (issue 11) | measured | baseline, same run | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for key, target, row in ROWS:
        figures = f[key]
        if "failed" in figures:
            measured, baseline, ok = f"failed: `{figures['failed']}`", "—", None
        else:
            measured, baseline, ok = row(figures)
        lines.append(f"| {target} | {measured} | {baseline} | {_verdict(ok)} |")
    return lines


def pointer(results: dict[str, Any]) -> list[str]:
    """A line under issue 12's targets that says where issue 11's are."""
    if results.get("features") is None:
        return []
    return ["Issue 11's targets (scheduled jobs, due jobs, rate limits, `?wait=`): section 6.", ""]


def render(results: dict[str, Any]) -> list[str]:
    """The section's lines; none when the run has no figures for it."""
    f = results.get("features")
    if f is None:
        return []
    p = f["plan"]
    return [
        "## 6. Job features (issue 11)",
        "",
        *_where(f, results["machine"]),
        "",
        *_target_rows(f),
        "",
        f"Relay: `dispatch_due`'s duration as the maintenance worker records it, over "
        f"{p['relay_window_s']} s before and (from {f['relay'].get('settle_s', 0):g} s) after "
        f"{SCHEDULED:,} noop jobs due 1 to "
        f"30 days ahead are written in the shape `new_job` gives them (in "
        f"{f['relay'].get('seed_seconds', '?')} s); nothing is due meanwhile, so a tick is "
        "the relay's queries and no publish. "
        f"Due: {p['due_n']} noop jobs posted to `/jobs/batch` with "
        f"`run_at` spread over {p['due_spread_s']} s, 3 s ahead, while the scheduled jobs wait; "
        "late = `started_at` - `run_at`. Wait: "
        f"{p['wait_clients']} client threads each post a {WAIT_SLEEP_S:g} s `sleep` job "
        "and at once `GET /jobs/<id>?wait=30` it; late = when the answer was read - the job's "
        "`finished_at` (one clock). Rate: a backlog of one job type limited to R starts a "
        "second (TYPE_RATE), counted from `started_at` over the window from 5 s after the first "
        "start; the busiest second is a clock second of `started_at` (a claim, just before the "
        "limit admits it). Figures from one run on a shared machine: noisy, read them as such.",
        "",
    ]
