"""docs/benchmarks.md from the results of a bench run (the JSON beside it holds every run)."""

from __future__ import annotations

from typing import Any

from bench import features_report
from bench.dbcost import OP_TIMEOUT, OPERATIONS
from bench.stats import spread

# Issue 12's "done when", and the priority target of the benchmark before it.
TARGETS = {
    "flat": 0.9,
    "maintenance_share": 0.2,
    "of_refused": 0.5,
    "times_seed004": 5.0,
    "batch_jobs_per_s": 5000.0,
    "e2e_ratio": 0.6,
    "priority_share": 0.05,
}
PASSES = (("empty", "empty database"), ("history", "with history"))


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _n(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _data(d: dict[str, int]) -> str:
    return f"{d['jobs']:,} jobs, {d['agents']:,} agents, {d['tickets']:,} tickets"


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    return [
        f"- Machine: {m['cores']} cores, {m['memory_gib']} GiB memory, {m['cpu']}, {m['os']}, "
        f"Python {m['python']}",
        f"- Database, for every figure on this page: **{m['database']}**",
        f"- Data: first pass on an empty database ({_data(results['empty']['data'])} when it "
        f"ended); second pass with history ({_data(results['history']['data'])})",
        f"- Code: {m.get('code', 'not recorded')}",
        f"- Load average when the run started: {', '.join(map(str, m['load_average_at_start']))} "
        "(other processes on the machine share its cores)",
        f"- Measured: {m['measured_at']}",
    ]


def _median(s: dict[str, Any]) -> float | None:
    return s["median"]


def _maintenance_worst(rows: list[dict[str, Any]] | None) -> tuple[str, bool]:
    """The worst task's mean and longest run as shares of its interval, and the verdict."""
    if rows is None:
        return "not recorded (no `maintenance` collection)", False
    if not rows:
        return "no task recorded a run", False
    idle = [r["task"] for r in rows if not r["runs"]]
    worst = max(rows, key=lambda r: r["mean_share"] or 0.0)
    text = (
        f"worst mean {_pct(worst['mean_share'])} ({worst['task']}; the mean is judged), "
        f"longest run {_pct(max(r['max_share'] or 0.0 for r in rows))} of its interval"
    )
    if idle:
        text += f"; no run in the window: {', '.join(idle)}"
    ok = not idle and all((r["mean_share"] or 0.0) < TARGETS["maintenance_share"] for r in rows)
    return text, ok


def _targets(results: dict[str, Any]) -> list[str]:
    empty, hist = results["empty"], results["history"]
    e_e2e, h_e2e = empty["endtoend"], hist["endtoend"]
    flat = (_median(h_e2e["switchboard"]["jobs_per_s"]) or 0.0) / (
        _median(e_e2e["switchboard"]["jobs_per_s"]) or float("inf")
    )
    hb, eb = hist["submit"]["best"], empty["submit"]["best"]
    maint, maint_ok = _maintenance_worst(hist["maintenance"])
    maint_empty, _ = _maintenance_worst(empty["maintenance"])
    prio = results["priority"]["waiting_backlog_done_before_last_high"]["median"]
    h_ratio = _median(h_e2e["ratio"]) or 0.0
    # Bare Celery runs on the same machine in both passes and never touches the database:
    # its own change between them is the machine's drift, which this ratio takes out.
    adjusted = h_ratio / (_median(e_e2e["ratio"]) or float("inf"))
    return [
        "| target (issue 12) | measured with history | baseline, same run | verdict |",
        "| --- | --- | --- | --- |",
        f"| end to end with history >= 90% of the same on an empty database | "
        f"{_n(_median(h_e2e['switchboard']['jobs_per_s']), 1)} jobs/s "
        f"{'(timed out) ' if h_e2e['timed_out'] else ''}| "
        f"{_n(_median(e_e2e['switchboard']['jobs_per_s']), 1)} jobs/s empty: **{_pct(flat)}** "
        f"({_pct(adjusted)} once bare Celery's own change between the passes is taken out) | "
        f"{_verdict(flat >= TARGETS['flat'])} |",
        f"| maintenance < 20% of its interval, with history | {maint} | empty: {maint_empty} | "
        f"{_verdict(maint_ok) if hist['maintenance'] is not None else 'not measured'} |",
        f"| `POST /jobs` >= 50% of the same request refused before the database | "
        f"{_n(hb['post_job'])} req/s | refused: {_n(hb['post_invalid'])} req/s: "
        f"**{_pct(hb['post_job_of_refused'])}** | "
        f"{_verdict(hb['post_job_of_refused'] >= TARGETS['of_refused'])} |",
        f"| `POST /jobs` >= 5x seed 004's way | {_n(hb['post_job'])} req/s | seed 004: "
        f"{_n(hb['seed004'])} req/s: **{hb['post_job_times_seed004']:.1f}x** | "
        f"{_verdict(hb['post_job_times_seed004'] >= TARGETS['times_seed004'])} |",
        f"| `POST /jobs/batch` of 100 >= 5,000 jobs/s | {_n(hb['batch_jobs_per_s'])} jobs/s | "
        f"empty: {_n(eb['batch_jobs_per_s'])} jobs/s | "
        f"{_verdict(hb['batch_jobs_per_s'] >= TARGETS['batch_jobs_per_s'])} |",
        f"| end to end >= 60% of bare Celery | {_pct(h_ratio)} of bare Celery | empty: "
        f"{_pct(_median(e_e2e['ratio']))} | {_verdict(h_ratio >= TARGETS['e2e_ratio'])} |",
        *_without_events_target(h_e2e, e_e2e),
        f"| high priority before 95% of an earlier backlog | {_pct(prio)} of the waiting "
        f"backlog finished first (empty database) | — | "
        f"{_verdict(prio <= TARGETS['priority_share'])} |",
        "",
        "Submit figures take each scenario at its own best concurrency; the tables below have "
        "every concurrency.",
    ]


def _flat(results: dict[str, Any]) -> list[str]:
    empty, hist = results["empty"], results["history"]

    def row(label: str, e: float | None, h: float | None, digits: int = 0) -> str:
        ratio = _pct(h / e) if e and h is not None else "—"
        return f"| {label} | {_n(e, digits)} | {_n(h, digits)} | {ratio} |"

    eb, hb = empty["submit"]["best"], hist["submit"]["best"]
    return [
        "| figure | empty database | with history | with history / empty |",
        "| --- | ---: | ---: | ---: |",
        row(
            "end to end, Switchboard (jobs/s)",
            _median(empty["endtoend"]["switchboard"]["jobs_per_s"]),
            _median(hist["endtoend"]["switchboard"]["jobs_per_s"]),
            1,
        ),
        row(
            "end to end, bare Celery (jobs/s): the machine's drift",
            _median(empty["endtoend"]["bare_celery"]["jobs_per_s"]),
            _median(hist["endtoend"]["bare_celery"]["jobs_per_s"]),
            1,
        ),
        row(
            "end to end, Switchboard / bare Celery",
            _median(empty["endtoend"]["ratio"]),
            _median(hist["endtoend"]["ratio"]),
            2,
        ),
        row("`POST /jobs` (req/s)", eb["post_job"], hb["post_job"]),
        row(
            "`POST /jobs`, refused before the database (req/s)",
            eb["post_invalid"],
            hb["post_invalid"],
        ),
        row("seed 004's `POST /word-count` (req/s)", eb["seed004"], hb["seed004"]),
        row("`GET /jobs/<id>` (req/s)", eb["get_job"], hb["get_job"]),
        row("`POST /jobs/batch` of 100 (jobs/s)", eb["batch_jobs_per_s"], hb["batch_jobs_per_s"]),
        *_assignment_rows(empty["assignment"], hist["assignment"], row),
    ]


def _assignment_rows(empty: dict[str, Any], hist: dict[str, Any], row: Any) -> list[str]:
    if "skipped" in empty or "skipped" in hist:
        return []
    return [
        row(
            "tickets assigned per second",
            _median(empty["tickets_per_s"]),
            _median(hist["tickets_per_s"]),
            1,
        ),
        row(
            "time to assign, p50 (ms)",
            _median(empty["assign_p50_ms"]),
            _median(hist["assign_p50_ms"]),
        ),
    ]


def _maintenance(rows: list[dict[str, Any]] | None) -> list[str]:
    if rows is None:
        return ["Not recorded: the stack keeps no `maintenance` collection."]
    lines = [
        "| task | interval s | runs in the window | mean s | longest s | mean / interval | "
        "longest / interval |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['interval_s']:g} | {r['runs']} | {_n(r['mean_s'], 3)} | "
            f"{_n(r['max_s'], 3)} | {_pct(r['mean_share'])} | {_pct(r['max_share'])} |"
        )
    return lines


def _submit(s: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | connections | requests/s | p50 ms | p99 ms | other answers |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s["table"]:
        if r["scenario"] == "post_batch":
            continue
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {spread(r['rps'])} | "
            f"{spread(r['p50_ms'], digits=1)} | {spread(r['p99_ms'], digits=1)} | "
            f"{r['unexpected']} |"
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
    timed_out = (
        [
            "",
            f"**Not all {e['n']} jobs succeeded within the time allowed**: the rate is that of "
            "those that did, over the whole wait.",
        ]
        if e["timed_out"]
        else []
    )
    refused = [r["refused"] for r in e["switchboard"]["runs"] if r.get("refused")]
    if refused:
        timed_out += ["", f"Submitting stopped when the stack answered: `{refused[0]}`"]
    return [
        "| system | jobs/s | seconds for the run |",
        "| --- | ---: | ---: |",
        f"| Switchboard | {spread(e['switchboard']['jobs_per_s'], digits=1)} | "
        f"{_seconds(e['switchboard']['runs'])} |",
        f"| bare Celery | {spread(e['bare_celery']['jobs_per_s'], digits=1)} | "
        f"{_seconds(e['bare_celery']['runs'])} |",
        *_without_events_row(e),
        "",
        f"Ratio Switchboard / bare Celery: **{_pct(e['ratio']['median'])}** "
        f"(runs: {', '.join(_pct(x) for x in e['ratio']['runs'])}).",
        *_without_events_note(e),
        *timed_out,
    ]


def _without_events_target(history: dict[str, Any], empty: dict[str, Any]) -> list[str]:
    """The same target with WORKER_TASK_EVENTS=false, when the run measured it."""
    quiet = history.get("without_task_events")
    if not quiet or not quiet["runs"]:
        return []
    ratio = quiet["ratio"]
    empty_ratio = empty.get("without_task_events", {}).get("ratio", 0.0)
    return [
        f"| the same, with `WORKER_TASK_EVENTS=false` (Flower without its task list) | "
        f"{_pct(ratio)} of bare Celery | empty: {_pct(empty_ratio)} | "
        f"{_verdict(ratio >= TARGETS['e2e_ratio'])} (not the default) |"
    ]


def _without_events_row(e: dict[str, Any]) -> list[str]:
    quiet = e.get("without_task_events")
    if not quiet or not quiet["runs"]:
        return []
    return [
        f"| Switchboard, `WORKER_TASK_EVENTS=false` | {spread(quiet['jobs_per_s'], digits=1)} | "
        f"{_seconds(quiet['runs'])} |",
    ]


def _without_events_note(e: dict[str, Any]) -> list[str]:
    quiet = e.get("without_task_events")
    if not quiet or not quiet["runs"]:
        return []
    return [
        "",
        f"Without task events (Flower then lists no tasks; it still shows workers and queues), "
        f"Switchboard ran at **{_pct(quiet['ratio'])}** of bare Celery's median, minutes after "
        "it in the same pass.",
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
        "| finished jobs of history | " + " | ".join(OPERATIONS.values()) + " |",
        "| ---: | " + " | ".join("---:" for _ in OPERATIONS) + " |",
    ]
    for r in rows:
        cells = " | ".join(
            f"> {OP_TIMEOUT:g} s or failed" if r[k] is None else _n(r[k], 2) for k in OPERATIONS
        )
        lines.append(f"| {r['history_jobs']:,} | {cells} |")
    return lines


# Process types in the order a job meets them; anything else follows, by name.
CPU_ORDER = (
    "nginx", "web", "database", "rabbitmq", "worker", "flower", "maintenance", "beat", "ticket",
    "seed 004 app", "bench (publisher)", "bare workers",
)  # fmt: skip


def _mean_cpu(runs: list[dict[str, Any]]) -> dict[str, float]:
    # A run that measured nothing (it failed) is left out, not averaged in as zero.
    runs = [r for r in runs if r.get("cpu_ms")]
    kinds = {k for r in runs for k in r.get("cpu_ms", {})}
    return {k: sum(r.get("cpu_ms", {}).get(k, 0.0) for r in runs) / len(runs) for k in kinds}


def _at_best(s: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    """The runs of `scenario` at the concurrency where its median rate was highest."""
    by_c = [runs for runs in s["runs"][scenario].values() if runs]
    if not by_c:
        return []
    return max(by_c, key=lambda runs: sorted(r["rps"] for r in runs)[len(runs) // 2])


def _cpu(results: dict[str, Any], key: str) -> list[str]:
    """CPU per job by process type, each scenario at its best concurrency; and the bound the
    sum puts on the rate when every process shares the machine's cores."""
    s, e = results[key]["submit"], results[key]["endtoend"]
    columns = {
        "`POST /jobs` refused, per request": _mean_cpu(_at_best(s, "post_invalid")),
        "`POST /jobs`, per job": _mean_cpu(_at_best(s, "post_job")),
        f"`POST /jobs/batch` of {s['batch_size']}, per job": _mean_cpu(_at_best(s, "post_batch")),
        "seed 004, per job": _mean_cpu(_at_best(s, "seed004")),
        "end to end, per job": _mean_cpu(e["switchboard"]["runs"]),
        "end to end without task events, per job": _mean_cpu(
            e.get("without_task_events", {}).get("runs", [])
        ),
        "bare Celery, per job": _mean_cpu(e["bare_celery"]["runs"]),
    }
    if not any(columns.values()):
        return ["No CPU figures in this run."]
    seen = {k for c in columns.values() for k in c}
    kinds = [k for k in CPU_ORDER if k in seen] + sorted(seen - set(CPU_ORDER))
    cores = results["machine"]["cores"]
    lines = [
        "| process | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for kind in kinds:
        cells = " | ".join(_n(c.get(kind), 3) if c.get(kind) else "" for c in columns.values())
        lines.append(f"| {kind} | {cells} |")
    totals = [sum(c.values()) for c in columns.values()]
    lines.append("| **total** | " + " | ".join(f"**{_n(t, 3)}**" for t in totals) + " |")
    bounds = " | ".join(_n(cores * 1000 / t) if t else "" for t in totals)
    lines.append(f"| at most, on {cores} cores (per s) | {bounds} |")
    return lines


def _pass(results: dict[str, Any], key: str, name: str, number: str) -> list[str]:
    p = results[key]
    s, e = p["submit"], p["endtoend"]
    return [
        f"### {number} Submit through Nginx, {name} ({_data(p['data'])})",
        "",
        *_submit(s),
        "",
        f"### {number.rstrip('.')}b. End to end, {name}",
        "",
        *_e2e(e),
        "",
        f"### {number.rstrip('.')}c. Ticket assignment, {name}",
        "",
        *_assignment(p["assignment"]),
        "",
        f"### {number.rstrip('.')}d. Maintenance meanwhile, {name}",
        "",
        *_maintenance(p["maintenance"]),
        "",
    ]


def render(results: dict[str, Any], findings: str) -> str:
    p = results["priority"]
    e = results["empty"]["endtoend"]
    s = results["empty"]["submit"]
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/run.py); every run is in `docs/benchmarks.json`. "
        "Everything is measured on one private stack in one run, twice: on an empty database, "
        "then again once history has been seeded (tools/localstack/history.py: finished jobs, "
        "agents and finished tickets, written straight into the database in the shape the code "
        "writes). "
        "Each figure stands beside its baseline from the same run; cells read `median "
        f"(min-max)` of {results['plan']['reps']} runs.",
        "",
        *_machine(results),
        "",
        "## Targets",
        "",
        *_targets(results),
        "",
        *features_report.pointer(results),
        findings.strip(),
        "",
        "## 1. Flat with history",
        "",
        *_flat(results),
        "",
        "![cost against collection size](benchmarks-dbcost.png)",
        "",
        "### Cost per operation against the size of the history",
        "",
        "History is seeded in steps into the stack's database; at each step every operation "
        "runs through the code that runs it in production (`JobStore` methods, or HTTP through "
        "Nginx), median of up to 15 runs within 5 s, in ms:",
        "",
        *_dbcost(results["dbcost"]),
        "",
        "## 2. Submit, end to end and ticket assignment, on each database",
        "",
        f"Submit: wrk, 2 threads, {s['seconds_per_run']:g} s per run, through Nginx; the job "
        "workers are stopped for the section (the API tier alone, as when workers run on other "
        "machines: on this one they would take the same 2 cores); after each run the queue is "
        "emptied and the jobs the run made are deleted (the history stays). Baselines: the same "
        "`POST /jobs` with an unknown job type (400 before any database or broker work); seed "
        "004's way of accepting a job, reproduced in bench/seed004.py (one gevent Gunicorn "
        "worker, insert, a new AMQP connection per publish, read back; same MongoDB and RabbitMQ,"
        " not behind Nginx); and a primary-key `GET /jobs/<id>`. Requests/s count only the "
        "answers each scenario is meant to give; other answers are counted beside them.",
        "",
        f"End to end: {e['n']} noop jobs posted to `/jobs/batch` (250 per request) until all "
        f"are `succeeded` (checked by `_id`, never by scanning), {e['workers']} worker "
        "processes; baseline: the same number of no-op tasks of a bare Celery app "
        "(bench/bare_celery.py) on its own queue of the same RabbitMQ, 2 worker processes of "
        "the same concurrency and the same acks-late / prefetch-1 / confirmed publish settings.",
        "",
        "Ticket assignment: 1,000 agents made through the API, then tickets posted at once by "
        "8 client threads; each run deletes only its own agents and tickets (with history, the "
        "seeded agents on shift may take tickets too).",
        "",
        "Maintenance: from the `maintenance` collection the maintenance worker keeps, over the "
        "window of the whole pass: mean = Δtotal_seconds / Δruns; longest = the longest run "
        "seen.",
        "",
        "![submit](benchmarks-submit.png)",
        "",
        "![end to end](benchmarks-endtoend.png)",
        "",
        *_pass(results, "empty", "empty database", "2.1."),
        *_pass(results, "history", "with history", "2.2."),
        "## 3. Priority under a backlog (empty database)",
        "",
        f"{p['backlog']} noop jobs at priority 0 posted in batches, then {p['high']} at "
        "priority 9.",
        "",
        *_priority(p),
        "",
        "![priority](benchmarks-priority.png)",
        "",
        "## 4. Resident memory",
        "",
        "At rest after start-up, and the peak sampled every second during the empty-database "
        "pass and the priority benchmark. RSS counts shared pages once per process, so sums "
        "over-state a type's real footprint.",
        "",
        *_resources(results["resources"]),
        "",
        "![resources](benchmarks-resources.png)",
        "",
        "## 5. Where the CPU goes, with history",
        "",
        "Milliseconds of CPU per request or job, by process type (each with its children), "
        "measured over each scenario's runs at its best concurrency; wrk's own CPU is not in "
        "it. Every process shares the machine's cores, so the total bounds the rate: the last "
        "row is cores / total. During the submit scenarios the job workers are stopped, so "
        "an accepted job's figure is the cost of accepting it; end to end adds its run.",
        "",
        *_cpu(results, "history"),
        "",
        *features_report.render(results),
        "## Reproduce",
        "",
        "`make bench` (seeds 1,000,000 jobs: about 35 minutes on this machine, more when it "
        "is loaded); "
        "`BENCH_ARGS=--quick` for a smoke run of a few minutes on 20,000. It starts its own stack "
        "on free ports in a temporary folder and stops it afterwards. "
        "`BENCH_ARGS='--only features'` runs section 6 alone, on a stack of its own with the same "
        "history (about 15 minutes; with `--quick`, 3), and puts its figures in beside the rest.",
        "",
    ]
    return "\n".join(out)
