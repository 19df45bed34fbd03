"""Entry point of a worker: a Celery worker on the queues WORKER_QUEUES names."""

from services.core import queues
from services.core.config import settings
from services.core.process import exec_celery


def main() -> None:
    s = settings()
    exec_celery(
        "worker",
        f"--queues={','.join(queues.known(s.worker_queues))}",
        f"--hostname={s.worker_name}",
        f"--concurrency={s.worker_concurrency}",
        f"--loglevel={s.log_level}",
        "--without-gossip",
        "--without-mingle",
    )


if __name__ == "__main__":
    main()
