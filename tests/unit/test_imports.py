"""Nothing reads the settings when it is imported: they are read by entry points and factories."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Imports every module of services/ but the entry points (`__main__`, which run when imported)
# with settings that cannot be read (a port that is not a number): importing succeeds only if no
# module builds the settings as it is imported.
IMPORT_ALL = """
import importlib, pkgutil, services
for module in pkgutil.walk_packages(services.__path__, "services."):
    if not module.name.endswith(".__main__"):
        importlib.import_module(module.name)
"""


def test_importing_any_module_reads_no_settings() -> None:
    env = {**os.environ, "WEB_PORT": "not-a-port"}
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
