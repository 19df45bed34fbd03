"""Entry point of a web replica: an admin key made sure of, then Gunicorn serving the Flask app."""

import logging
import time
from pathlib import Path

from pymongo.errors import ConnectionFailure

from services.core import logs
from services.core.config import settings
from services.core.process import exec_module
from services.core.runtime import process_runtime

log = logging.getLogger("services.web")
# The database may still be starting beside this replica; serve anyway after this long.
ADMIN_KEY_PATIENCE = 120.0


def ensure_admin_key() -> None:
    runtime = process_runtime()
    s = runtime.settings
    deadline = time.monotonic() + ADMIN_KEY_PATIENCE
    while True:
        try:
            store = runtime.keys
            log.info(store.ensure_admin(s.admin_key, Path(s.data_dir)))
            return
        except ConnectionFailure as exc:
            if time.monotonic() > deadline:
                log.warning("could not make sure of an admin key: %s", exc)
                return
            time.sleep(1)


def main() -> None:
    s = settings()
    logs.configure(s.log_level)
    ensure_admin_key()
    exec_module(
        "gunicorn",
        "--config=python:services.web.gunicorn_conf",
        f"--bind={s.bind_host}:{s.web_port}",
        f"--workers={s.web_workers}",
        # Threads overlap the waits on MongoDB and on publisher confirms, and the submits waiting
        # at once share one group commit: 16 rather than 4 about doubled POST /jobs at 64
        # connections (2 cores).
        f"--threads={s.web_threads}",
        f"--log-level={s.log_level.lower()}",
        *(["--reload"] if s.web_reload else []),
        # The factory, called in each Gunicorn worker after the fork.
        "services.web.app:create_app()",
    )


if __name__ == "__main__":
    main()
