"""A private local stack on free ports, in a temporary folder, for one bench or drill run.

Never the default ports of `make run-prod`, so a developer's own stack keeps running untouched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.localstack.stack import LocalStack, private_config
from tools.localstack.topology import StackConfig

BASE_ENV = {"LOG_LEVEL": "WARNING", "SWITCHBOARD_JOB_MODULES": "tools.drills.jobtypes"}


def bench_config(
    data_dir: Path, workers: int, env: dict[str, str], database: str = ""
) -> StackConfig:
    return private_config(
        data_dir, "bench", workers=workers, extra_env={**BASE_ENV, **env}, database=database
    )


@contextmanager
def running_stack(
    workers: int = 2, env: dict[str, str] | None = None, database: str = "", keep: bool = False
) -> Iterator[LocalStack]:
    """Start a whole stack, wait until it serves, and stop it (and its folder) afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    # mkdtemp makes it 0700, but Nginx's workers run as `nobody` and buffer large request and
    # response bodies to files under it: without this, a 250-job batch is answered 500.
    data_dir.chmod(0o755)
    stack = LocalStack(bench_config(data_dir, workers, env or {}, database))
    stack.start()
    try:
        if not stack.wait_healthy(240):
            raise RuntimeError(
                f"stack not healthy; logs in {data_dir / 'logs'}\n" + stack.ctl("status")
            )
        yield stack
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
