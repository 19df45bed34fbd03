"""Benchmark 2: noop jobs from submission to `succeeded` in MongoDB, against bare Celery.

Switchboard: N noop jobs posted through Nginx to /jobs/batch, run by the stack's 2 workers;
the clock stops at the latest `finished_at` once all N are `succeeded` (or, when they are not
all done within the timeout, the rate is that of those that are).
Bare Celery: N no-op tasks published (confirmed) to a queue of their own on the same RabbitMQ and
run by 2 `celery worker` processes of bench/bare_celery.py with the same concurrency; the clock
stops when the queue has nothing left to deliver (at most the 2 tasks in hand remain, each a no-op).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from bench import bare_celery, cpu
from bench.stats import summary
from services.core import queues
from tools.localstack import backends
from tools.localstack.http import post_ok
from tools.localstack.stack import LocalStack
from tools.localstack.topology import REPO

BATCH = 250
# The processes bare Celery's figure takes CPU from: the rest of the stack idles meanwhile.
BARE_PARTS = ("rabbitmq", "bare workers", "bench (publisher)")
NOOP = {"type": "noop", "payload": {}}
POLL = 0.25
# Once restarted workers consume: their first beat ticks and connections settle.
RESTART_SETTLE = 3.0


def wait_succeeded(stack: LocalStack, ids: list[str], timeout: float) -> tuple[int, datetime]:
    """Until every job in `ids` has succeeded: how many did, and the latest `finished_at`.

    Reads the bench's own jobs by `_id`, newest first, so that the check never meets the history
    around them; and only once the broker has nothing left to deliver, when at most the jobs in
    the workers' hands remain, so that polling does not slow down what it measures.
    """
    jobs = backends.database(stack.config)["jobs"]
    left = list(ids)
    latest = datetime.min.replace(tzinfo=UTC)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        if backends.ready_messages(stack.config, queues.JOBS) == 0:
            while left:
                doc = jobs.find_one({"_id": left[-1]}, {"status": 1, "finished_at": 1})
                if doc is None or doc["status"] != "succeeded":
                    break
                latest = max(latest, doc["finished_at"])
                left.pop()
        if left:
            time.sleep(POLL)
    if left:
        # Out of time: count the ones that did finish, in whatever order they did.
        done = [jobs.find_one({"_id": i, "status": "succeeded"}, {"finished_at": 1}) for i in left]
        latest = max([latest, *(d["finished_at"] for d in done if d)])
        return len(ids) - sum(d is None for d in done), latest
    return len(ids), latest


def _submit(stack: LocalStack, n: int) -> tuple[list[str], str | None]:
    """Post `n` noop jobs in batches: their ids, and why submitting stopped early, if it did."""
    ids: list[str] = []
    base, key = stack.config.base_url, stack.api_key()
    for offset in range(0, n, BATCH):
        size = min(BATCH, n - offset)
        try:
            reply = post_ok(base, "/jobs/batch", {"jobs": [NOOP] * size}, key)
        except (RuntimeError, OSError) as error:
            # An overwhelmed stack refuses or times out: what it did accept is still measured.
            return ids, str(error)[:300]
        ids += [job["id"] for job in reply["jobs"]]
    return ids, None


def switchboard_run(stack: LocalStack, n: int, timeout: float, since: str) -> dict[str, Any]:
    """One run; `since` as for `measure`."""
    start = time.time()
    with cpu.spent(stack) as used:
        ids, refused = _submit(stack, n)
        submitted = time.time() - start
        done, latest = wait_succeeded(stack, ids, timeout)
    # Out of time, the rate is that of the jobs that did finish, over the whole wait.
    elapsed = latest.timestamp() - start if done == n else time.time() - start
    backends.reset_jobs(stack.config, since)
    return {
        "n": n,
        "succeeded": done,
        "seconds": elapsed,
        "jobs_per_s": done / elapsed,
        "submit_seconds": submitted,
        "refused": refused,
        "cpu_ms": cpu.per_unit(used, done),
    }


class BareWorkers:
    """`celery worker` processes of the bare app, as many as the stack's job workers."""

    def __init__(self, broker_url: str, count: int, concurrency: int) -> None:
        self.broker_url, self.count, self.concurrency = broker_url, count, concurrency
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BareWorkers:
        env = {**os.environ, "BENCH_BROKER_URL": self.broker_url, "PYTHONPATH": str(REPO)}
        for i in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "bench.bare_celery",
                        "worker",
                        "--concurrency",
                        str(self.concurrency),
                        "--hostname",
                        f"bare-{i}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def wait_consuming(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with bare_celery.app.connection_for_write(self.broker_url) as conn:
            # Declared here first, so the passive declares below never find it missing.
            bare_celery.app.conf.task_queues[0].bind(conn.default_channel).declare()
            while time.monotonic() < deadline:
                _, _, consumers = conn.default_channel.queue_declare(
                    bare_celery.QUEUE, passive=True
                )
                if consumers >= self.count:
                    return
                time.sleep(0.5)
        raise TimeoutError("the bare Celery workers did not start consuming")


def bare_run(stack: LocalStack, workers: BareWorkers, n: int, timeout: float) -> dict[str, Any]:
    app, broker_url = bare_celery.app, stack.config.broker_url
    with cpu.spent(stack, {"bare workers": workers.pids(), **cpu.this_process()}) as used:
        result = _bare_run(app, broker_url, n, timeout)
    # Only the broker among the stack's programs takes part; the others idle meanwhile.
    return {**result, "cpu_ms": cpu.per_unit({k: used[k] for k in BARE_PARTS}, n)}


def _bare_run(app: Celery, broker_url: str, n: int, timeout: float) -> dict[str, Any]:
    start = time.time()
    # An explicit connection: the app's pooled one may still point at an earlier stack's broker.
    with app.connection_for_write(broker_url) as conn, app.amqp.Producer(conn) as producer:
        for _ in range(n):
            app.send_task("bench.noop", queue=bare_celery.QUEUE, producer=producer)
    submitted = time.time() - start
    deadline = time.monotonic() + timeout
    with app.connection_for_write(broker_url) as conn:
        while True:
            _, ready, _ = conn.default_channel.queue_declare(bare_celery.QUEUE, passive=True)
            if ready == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ready} bare tasks still queued after {timeout:.0f}s")
            time.sleep(0.01)
    elapsed = time.time() - start
    return {"n": n, "seconds": elapsed, "jobs_per_s": n / elapsed, "submit_seconds": submitted}


def without_task_events(
    stack: LocalStack, n: int, reps: int, timeout: float, since: str, log: Any
) -> list[dict[str, Any]]:
    """Switchboard's runs again with WORKER_TASK_EVENTS=false (Flower without its task list):
    what Flower's task events cost end to end. The stack's programs restart twice for it."""
    runs: list[dict[str, Any]] = []
    try:
        if stack.restart_with({"WORKER_TASK_EVENTS": "false"}) and _consuming(stack):
            for rep in range(reps):
                runs.append(switchboard_run(stack, n, timeout, since))
                log(f"e2e rep {rep + 1} without task events: {runs[-1]['jobs_per_s']:.1f} jobs/s")
    finally:
        stack.restart_with({"WORKER_TASK_EVENTS": "true"})
        _consuming(stack)
    return runs


def _consuming(stack: LocalStack, timeout: float = 120) -> bool:
    """Whether every job worker consumes again (restarted ones take a few seconds)."""
    deadline = time.monotonic() + timeout
    while stack.workers_online() < stack.config.workers:
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    time.sleep(RESTART_SETTLE)
    return True


def measure(
    stack: LocalStack, n: int, reps: int, timeout: float, log: Any, since: str
) -> dict[str, Any]:
    """Alternating runs of both, so any drift of the machine hits both alike.

    `since`: a `backends.marker()` from before the first run; the jobs made since are deleted
    after each run (the history stays).
    """
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    broker = stack.config.broker_url
    for rep in range(reps):
        ours.append(switchboard_run(stack, n, timeout, since))
        log(
            f"e2e rep {rep + 1} switchboard: {ours[-1]['jobs_per_s']:.1f} jobs/s "
            f"({ours[-1]['succeeded']}/{n} in {ours[-1]['seconds']:.1f}s)"
        )
        with BareWorkers(broker, stack.config.workers, stack.config.worker_concurrency) as workers:
            workers.wait_consuming()
            bare.append(bare_run(stack, workers, n, timeout))
        log(
            f"e2e rep {rep + 1} bare celery: {bare[-1]['jobs_per_s']:.1f} jobs/s "
            f"({bare[-1]['seconds']:.1f}s)"
        )
        if ours[-1]["succeeded"] < n:
            break  # the next run would run out of time too: the figure is already known
    ours_rate = summary([r["jobs_per_s"] for r in ours])
    bare_rate = summary([r["jobs_per_s"] for r in bare])
    ratios = [o["jobs_per_s"] / b["jobs_per_s"] for o, b in zip(ours, bare, strict=True)]
    quiet = without_task_events(stack, n, len(ours), timeout, since, log)
    quiet_rate = summary([r["jobs_per_s"] for r in quiet])
    return {
        "n": n,
        "workers": stack.config.workers,
        "concurrency": stack.config.worker_concurrency,
        "switchboard": {"jobs_per_s": ours_rate, "runs": ours},
        "bare_celery": {"jobs_per_s": bare_rate, "runs": bare},
        "ratio": summary(ratios),
        "without_task_events": {
            "jobs_per_s": quiet_rate,
            "runs": quiet,
            # Against bare Celery's median of the same pass: its runs came minutes before.
            "ratio": (quiet_rate["median"] or 0.0) / bare_rate["median"]
            if bare_rate["median"]
            else 0.0,
        },
        "timed_out": any(r["succeeded"] < n for r in ours),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
