"""docs/benchmarks.md from the results of a bench run (the JSON beside it holds every run)."""

from __future__ import annotations

from typing import Any

from bench.stats import spread

TARGETS = {
    "submit_rps": 1000.0,
    "e2e_ratio": 0.5,
    "priority_share": 0.05,
}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _machine(m: dict[str, Any]) -> list[str]:
    return [
        f"- Machine: {m['cores']} cores, {m['memory_gib']} GiB memory, {m['cpu']}, {m['os']}, "
        f"Python {m['python']}",
        f"- Database: {m['database']}",
        f"- Load average when the run started: {', '.join(map(str, m['load_average_at_start']))} "
        "(other processes on the machine share its 2 cores)",
        f"- Measured: {m['measured_at']}",
    ]


def _submit(s: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | connections | requests/s | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s["table"]:
        if r["scenario"] == "post_batch":
            continue
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {spread(r['rps'])} | "
            f"{spread(r['p50_ms'], digits=1)} | {spread(r['p99_ms'], digits=1)} | {r['non_2xx']} |"
        )
    lines += [
        "",
        f"Batches (`POST /jobs/batch`, {s['batch_size']} noop jobs per request):",
        "",
        "| connections | requests/s | jobs/s | p50 ms | p99 ms |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s["table"]:
        if r["scenario"] == "post_batch":
            lines.append(
                f"| {r['connections']} | {spread(r['rps'], digits=1)} | {spread(r['jobs_per_s'])} "
                f"| {spread(r['p50_ms'])} | {spread(r['p99_ms'])} |"
            )
    return lines


def _seconds(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


def _e2e(e: dict[str, Any]) -> list[str]:
    return [
        "| system | jobs/s | seconds for the run |",
        "| --- | ---: | ---: |",
        f"| Switchboard | {spread(e['switchboard']['jobs_per_s'], digits=1)} | "
        f"{_seconds(e['switchboard']['runs'])} |",
        f"| bare Celery | {spread(e['bare_celery']['jobs_per_s'], digits=1)} | "
        f"{_seconds(e['bare_celery']['runs'])} |",
        "",
        f"Ratio Switchboard / bare Celery: **{100 * e['ratio']['median']:.1f}%** "
        f"(runs: {', '.join(f'{100 * x:.1f}%' for x in e['ratio']['runs'])}); "
        f"target >= 50%: {_verdict(e['ratio']['median'] >= TARGETS['e2e_ratio'])}.",
    ]


def _priority(p: dict[str, Any]) -> list[str]:
    share = p["waiting_backlog_done_before_last_high"]
    lines = [
        "| run | backlog still waiting when the high jobs came | share of the backlog done "
        "before the last high job | same, of the waiting backlog only | slowest high job (s) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, r in enumerate(p["runs"], start=1):
        lines.append(
            f"| {i} | {r['backlog_waiting_when_high_submitted']} | "
            f"{100 * r['backlog_done_before_last_high']:.1f}% | "
            f"{100 * r['waiting_backlog_done_before_last_high']:.1f}% | "
            f"{max(r['high_latency_s']):.2f} |"
        )
    lines += [
        "",
        "The target is judged on the backlog still waiting when the high-priority jobs arrived "
        "(jobs finished before they existed cannot be overtaken): median share "
        f"**{100 * share['median']:.1f}%**; target <= 5%: "
        f"{_verdict(share['median'] <= TARGETS['priority_share'])}.",
    ]
    return lines


def _assignment(a: dict[str, Any]) -> list[str]:
    if "skipped" in a:
        return [f"**TODO — not measured**: {a['skipped']}."]
    return [
        f"{a['agents']} agents, {a['tickets']} tickets posted at once by 8 client threads.",
        "",
        "| tickets/s assigned | time to assign p50 ms | time to assign p99 ms |",
        "| ---: | ---: | ---: |",
        f"| {spread(a['tickets_per_s'], digits=1)} | {spread(a['assign_p50_ms'])} | "
        f"{spread(a['assign_p99_ms'])} |",
    ]


def _resources(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| process type | processes | RSS at rest (MiB) | peak RSS under load (MiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['type']} | {r['processes']} | {r['rest_mib']} | {r['load_mib']} |")
    return lines


def _dbcost(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| documents in the collection | read by _id ms | claim ms | finish ms | "
        "`$in` update of one id ms | status scan ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['documents']} | {r['read_by_id_ms']} | {r['claim_ms']} | {r['finish_ms']} | "
            f"{r['mark_queued_in_ms']} | {r['status_scan_ms']} |"
        )
    return lines


def _compare(c: dict[str, Any] | None) -> list[str]:
    """The stock FerretDB against another build (bench/compare_db.py), if that was run."""
    if not c:
        return ["Not run yet: `python -m bench.compare_db <ferretdb binary>` writes it."]
    lines = [
        f"Stock: `{c['stock']['ferretdb']}`; other: `{c['alt']['ferretdb']}`, measured one after "
        f"the other ({c['stock']['machine']['measured_at']}), fresh stack each.",
        "",
        "| FerretDB build | POST /jobs req/s (8 connections) | end to end jobs/s | "
        "ratio to bare Celery | claim ms at 100 / 1,000 / 5,000 jobs |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("stock", "alt"):
        run = c[name]
        post = next(r for r in run["submit"] if r["scenario"] == "post_job")
        e2e = run["endtoend"]
        claims = " / ".join(str(r["claim_ms"]) for r in run["dbcost"])
        rate = spread(e2e["switchboard"]["jobs_per_s"], digits=1)
        lines.append(
            f"| {name} | {spread(post['rps'])} | {rate} | {100 * e2e['ratio']['median']:.1f}% | "
            f"{claims} |"
        )
    return lines


def render(results: dict[str, Any], findings: str, compare: dict[str, Any] | None = None) -> str:
    m = results["machine"]
    s, e, p = results["submit"], results["endtoend"], results["priority"]
    waiting_share = p["waiting_backlog_done_before_last_high"]["median"]
    best_post = max(
        (r["rps"]["median"] for r in s["table"] if r["scenario"] == "post_job"), default=0.0
    )
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/run.py); every run is in `docs/benchmarks.json`. "
        "Each figure is measured beside its baseline in the same run, repeated "
        f"{results['reps']} times: cells read `median (min-max)`.",
        "",
        *_machine(m),
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        f"| submit >= 1,000 requests/s through Nginx | {best_post:.0f} requests/s "
        f"(best concurrency) | {_verdict(best_post >= TARGETS['submit_rps'])} |",
        f"| end to end >= 50% of bare Celery | {100 * e['ratio']['median']:.1f}% | "
        f"{_verdict(e['ratio']['median'] >= TARGETS['e2e_ratio'])} |",
        f"| high priority before 95% of an earlier backlog | "
        f"{100 * p['waiting_backlog_done_before_last_high']['median']:.1f}% of the waiting "
        "backlog finished first | "
        f"{_verdict(waiting_share <= TARGETS['priority_share'])} |",
        "",
        findings.strip(),
        "",
        "## 1. Submit through Nginx",
        "",
        f"wrk, 2 threads, {s['seconds_per_run']:g} s per run; the queue and the `jobs` "
        "collection are emptied before each run, and the 2 workers consume the jobs meanwhile. "
        "Baselines: the same POST with an unknown job type (400 before any database or broker "
        "work) and a primary-key `GET /jobs/<id>`.",
        "",
        *_submit(s),
        "",
        "![submit](benchmarks-submit.png)",
        "",
        "## 2. End to end",
        "",
        f"{e['n']} noop jobs posted to `/jobs/batch` (250 per request) until all are `succeeded`"
        f", {e['workers']} worker processes; baseline: the same number of no-op tasks of a bare "
        "Celery app (bench/bare_celery.py) on its own queue of the same RabbitMQ, with 2 worker "
        "processes of the same concurrency and the same acks-late / prefetch-1 / confirmed "
        "publish settings.",
        "",
        *_e2e(e),
        "",
        "![end to end](benchmarks-endtoend.png)",
        "",
        "## 3. Priority under a backlog",
        "",
        f"{p['backlog']} noop jobs at priority 0 posted in batches, then {p['high']} at "
        "priority 9.",
        "",
        *_priority(p),
        "",
        "![priority](benchmarks-priority.png)",
        "",
        "## 4. Ticket assignment",
        "",
        *_assignment(results["assignment"]),
        "",
        "## 5. Resident memory",
        "",
        "At rest after start-up, and the peak sampled every second during benchmarks 1-4. RSS "
        "counts shared pages once per process, so sums over-state a type's real footprint.",
        "",
        *_resources(results["resources"]),
        "",
        "![resources](benchmarks-resources.png)",
        "",
        "## Database cost per operation by collection size",
        "",
        "Measured in the same run on a side collection of job documents (median of 15; the "
        "status scan of 5):",
        "",
        *_dbcost(results["dbcost"]),
        "",
        "## Before/after: FerretDB with `_id` pushed down",
        "",
        *_compare(compare),
        "",
        "## Reproduce",
        "",
        "`make bench` (about 10 minutes; `BENCH_ARGS=--quick` for a 3-minute smoke run). It "
        "starts its own stack on free ports in a temporary folder and stops it afterwards.",
        "",
    ]
    return "\n".join(out)
