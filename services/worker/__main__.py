"""Entry point of a worker: a Celery worker on the job, ticket and maintenance queues."""

from services.core import queues
from services.core.config import settings
from services.core.process import exec_celery

s = settings()
exec_celery(
    "worker",
    f"--queues={','.join(q.name for q in queues.work_queues)}",
    f"--hostname={s.worker_name}",
    f"--concurrency={s.worker_concurrency}",
    f"--loglevel={s.log_level}",
    "--without-gossip",
    "--without-mingle",
)
