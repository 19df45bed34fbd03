"""Entry point of a worker: a Celery worker on the job, ticket and maintenance queues."""

import os
import sys

from services.core import queues
from services.core.config import settings

s = settings()
os.execvp(
    sys.executable,
    [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "services.core.celery_app",
        "worker",
        "--queues",
        ",".join(q.name for q in queues.work_queues),
        "--hostname",
        s.worker_name,
        "--concurrency",
        str(s.worker_concurrency),
        "--loglevel",
        s.log_level,
        "--without-gossip",
        "--without-mingle",
    ],
)
