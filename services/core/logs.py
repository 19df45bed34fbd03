"""Logs as JSON lines, one per event, the same in every process: web, workers, beat, tools.

A job's events carry `job_id`, `run_id`, `job_type` and `attempt` as fields of their own, so a log
pipeline can follow one job across processes without parsing messages.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
NAMES = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}
# Celery's lines per task ("received", "succeeded in") say less than the job's own events
# (`jobs.lifecycle`), and twice as many lines cost CPU at hundreds of jobs a second.
QUIETER = {"celery.app.trace": logging.WARNING, "celery.worker.strategy": logging.WARNING}


def configure(level: str) -> None:
    """Every record of this process to stderr as one JSON object per line, at `level` and up."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(FIELDS, rename_fields=NAMES))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Warnings (Celery's about running as root, deprecations) as log lines, not bare stderr.
    logging.captureWarnings(True)
    for name, floor in QUIETER.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
