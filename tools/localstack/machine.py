"""What the figures were measured on: stated beside every table and chart."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from tools.localstack.topology import REPO, default_database


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def database_server(database: str = "") -> str:
    """Which MongoDB-wire server the stack runs, with its version."""
    binary = database or default_database()
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        # Each server's first line names it with its version, "secantusd-rs 0.5.3-beta.196".
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return f"{Path(binary).name} (version unknown)"


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=REPO)
    return out.stdout.strip()


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{head or '?'}{' with uncommitted changes' if dirty else ''}"


def describe(database: str = "") -> dict[str, Any]:
    memory = psutil.virtual_memory().total
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "cpu": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "database": database_server(database),
        "code": code_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def caption(machine: dict[str, Any]) -> str:
    """One line for the foot of a chart."""
    return (
        f"{machine['cores']} cores, {machine['memory_gib']} GiB, {machine['cpu']}; "
        f"{machine['database']}; {machine['measured_at']}"
    )
