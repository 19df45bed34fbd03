"""`GET /metrics`: the cluster's state for Prometheus, read when scraped.

Every figure comes from what `/stats` reads (job counters and in-flight counts, queue depths) and
from the maintenance tasks' run records, so a scrape costs what a `/stats` call does, whatever the
history, and any replica answers it alike: nothing is kept in a web process's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from services.core import clock, health
from services.core.apikeys import Scope
from services.core.jobs import timings
from services.core.jobs.states import FINISHED
from services.core.maintenance import Maintenance
from services.core.tickets import stats
from services.core.tickets.states import Channel
from services.web.auth import requires
from services.web.current import runtime

bp = Blueprint("metrics", __name__)
FINISHED_VALUES = frozenset(s.value for s in FINISHED)


class ClusterCollector(Collector):
    """One scrape's worth of metrics, read as it is collected."""

    def collect(self) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "switchboard_jobs", "Jobs not finished, by status and type", labels=["status", "type"]
        )
        finished = CounterMetricFamily(
            "switchboard_jobs_finished",
            "Jobs that finished, by status and type (expired ones included)",
            labels=["status", "type"],
        )
        for row in runtime().jobs.counts():
            family = finished if row["status"] in FINISHED_VALUES else in_flight
            family.add_metric([row["status"], row["type"]], row["count"])
        yield in_flight
        yield finished
        yield from _timings()
        yield from _queues()
        yield from _tickets()
        yield from _maintenance()


def _timings() -> Iterator[Metric]:
    families = {
        timings.WAIT: HistogramMetricFamily(
            "switchboard_job_wait_seconds",
            "From submit (or run_at) to the first attempt's start, by type",
            labels=["type"],
        ),
        timings.RUN: HistogramMetricFamily(
            "switchboard_job_run_seconds", "Each attempt's run, by type", labels=["type"]
        ),
    }
    for doc in runtime().jobs.timing_counters():
        for histogram, family in families.items():
            buckets, total = timings.cumulative(doc, histogram)
            family.add_metric([doc["_id"]], buckets, total)
    yield from families.values()


def _tickets() -> Iterator[Metric]:
    r = runtime()
    store = r.tickets
    waiting = GaugeMetricFamily(
        "switchboard_tickets_waiting", "Tickets waiting for an agent", labels=["channel"]
    )
    queue = store.queue_entries()
    for channel in Channel:
        waiting.add_metric([channel.value], sum(1 for e in queue if e["channel"] == channel))
    yield waiting
    window = r.settings.ticket_stats_window
    assigned = store.assigned_since(clock.now() - timedelta(seconds=window))
    to_assign = GaugeHistogramMetricFamily(
        "switchboard_ticket_time_to_assign_seconds",
        f"Time to assign of the tickets assigned in the last {window:g} s, by channel",
        labels=["channel"],
    )
    for channel in Channel:
        waited = stats.waits(d for d in assigned if d["channel"] == channel)
        buckets = [
            (repr(float(bound)), float(sum(1 for w in waited if w <= bound)))
            for bound in timings.BUCKETS
        ]
        to_assign.add_metric([channel.value], [*buckets, ("+Inf", float(len(waited)))], sum(waited))
    yield to_assign


def _queues() -> Iterator[Metric]:
    depths = health.queue_depths()
    messages = GaugeMetricFamily(
        "switchboard_queue_messages", "Messages ready in each queue", labels=["queue"]
    )
    consumers = GaugeMetricFamily(
        "switchboard_queue_consumers", "Consumers attached to each queue", labels=["queue"]
    )
    for name, depth in depths.items():
        messages.add_metric([name], depth["messages"])
        consumers.add_metric([name], depth["consumers"])
    yield messages
    yield consumers


def _maintenance() -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "switchboard_maintenance_runs", "Runs of each periodic task", labels=["task"]
    )
    seconds = CounterMetricFamily(
        "switchboard_maintenance_seconds", "Time spent in each periodic task", labels=["task"]
    )
    for task in Maintenance(runtime().database).report():
        runs.add_metric([task["_id"]], task.get("runs", 0))
        seconds.add_metric([task["_id"]], task.get("total_seconds", 0.0))
    yield runs
    yield seconds


@bp.get("/metrics")
@requires(Scope.JOBS_READ)
def get_metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
