"""What the figures were measured on: stated beside every table and chart."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from services.localstack.topology import default_ferretdb


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def database_server(ferretdb: str = "") -> str:
    """mongod when one is on PATH (the stack prefers it), else the FerretDB build in use."""
    if shutil.which("mongod"):
        return "MongoDB (mongod)"
    binary = ferretdb or default_ferretdb()
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        version = next(
            (ln.split(":", 1)[1].strip() for ln in out.stdout.splitlines() if "version" in ln),
            "?",
        )
    except (OSError, subprocess.SubprocessError):
        version = "?"
    # scripts/install.sh records which patches its build carries beside the binary.
    build = Path(binary + ".build")
    patches = build.read_text().split()[-1] if build.exists() else "unknown build"
    return f"FerretDB {version} (SQLite backend, {patches})"


def describe(ferretdb: str = "") -> dict[str, Any]:
    memory = psutil.virtual_memory().total
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "cpu": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "database": database_server(ferretdb),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def caption(machine: dict[str, Any]) -> str:
    """One line for the foot of a chart."""
    return (
        f"{machine['cores']} cores, {machine['memory_gib']} GiB, {machine['cpu']}; "
        f"{machine['database']}; {machine['measured_at']}"
    )
