"""Running wrk with one of the Lua scenarios in bench/wrk/ and reading its JSON summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).parent / "wrk"
MARK = "WRK_JSON "


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    scenario: str,
    base_url: str,
    connections: int,
    seconds: float,
    env: dict[str, str] | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """One bounded wrk run; requests/s and latency percentiles in ms."""
    # Each scenario sets the request; report.lua, appended to it, counts statuses and prints JSON.
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write((SCRIPTS / f"{scenario}.lua").read_text())
        script.write("\n")
        script.write((SCRIPTS / "report.lua").read_text())
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            env={**os.environ, **(env or {})},
        )
    finally:
        os.unlink(script.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len(MARK) :])
    seconds_taken = raw["duration_us"] / 1e6
    statuses = {str(k): v for k, v in raw["statuses"].items()}
    return {
        "connections": connections,
        "requests": raw["requests"],
        "seconds": round(seconds_taken, 3),
        "rps": raw["requests"] / seconds_taken,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "statuses": statuses,
        "socket_errors": {k: v for k, v in raw["errors"].items() if k != "status" and v},
    }
