"""`python -m tools.simulator`: drive the ticket API of a running stack and report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from services.core.apikeys import ADMIN_KEY_FILE
from tools.simulator.client import Client, NotLoopback
from tools.simulator.plan import DEFAULT_SKILLS, Options
from tools.simulator.report import markdown, ok, show, write_chart
from tools.simulator.run import run


def _handle(text: str) -> tuple[float, float]:
    """`4` (2 to 6 seconds around it) or `1-8`."""
    low, _, high = text.partition("-")
    if high:
        return float(low), float(high)
    mean = float(low)
    return mean / 2, mean * 1.5


def _rounded(load: tuple[float, float, float]) -> list[float]:
    return [round(x, 2) for x in load]


def parse(argv: list[str]) -> tuple[str, str, Options, str | None]:
    p = argparse.ArgumentParser(prog="python -m tools.simulator", description=__doc__)
    p.add_argument("--base-url", default="http://127.0.0.1:8080", help="a loopback URL")
    p.add_argument(
        "--key-file",
        type=Path,
        default=Path(os.environ.get("DATA_DIR", ".data")) / ADMIN_KEY_FILE,
        help="a file holding an admin API key (SWITCHBOARD_API_KEY, when set, wins)",
    )
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--tickets", type=int, default=2000)
    p.add_argument("--rate", type=float, default=20.0, help="new tickets per second")
    p.add_argument("--handle", type=_handle, default=(1.0, 6.0), help="seconds: mean or low-high")
    p.add_argument("--duration", type=float, default=600.0, help="seconds at most")
    p.add_argument("--skills", default=",".join(DEFAULT_SKILLS), help="comma-separated")
    p.add_argument("--threads", type=int, default=16, help="concurrent HTTP requests")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--json",
        dest="json_path",
        default=None,
        help="also write the report here, and a PNG chart of the waits beside it",
    )
    a = p.parse_args(argv)
    if a.agents < 1 or a.tickets < 0 or a.rate <= 0 or a.duration <= 0 or not 1 <= a.threads <= 64:
        p.error("need agents ≥ 1, tickets ≥ 0, rate > 0, duration > 0, 1 ≤ threads ≤ 64")
    skills = tuple(s.strip() for s in a.skills.split(",") if s.strip())
    options = Options(
        agents=a.agents,
        tickets=a.tickets,
        rate=a.rate,
        handle=a.handle,
        duration=a.duration,
        skills=skills,
        threads=a.threads,
        seed=a.seed,
    )
    key = os.environ.get("SWITCHBOARD_API_KEY", "")
    if not key:
        try:
            key = a.key_file.read_text().strip()
        except OSError:
            p.error(f"no API key: set SWITCHBOARD_API_KEY or give --key-file ({a.key_file})")
    return a.base_url, key, options, a.json_path


def main(argv: list[str]) -> int:
    base_url, key, options, json_path = parse(argv)
    # A fixed width when not on a terminal (make, CI, a log file), so columns are not cut.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    try:
        client = Client(base_url, key)
    except NotLoopback as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    load_at_start = os.getloadavg()
    report = run(client, options, console)
    # Other work on the machine shares its cores with the stack and the simulator.
    report["load_average"] = {"start": _rounded(load_at_start), "end": _rounded(os.getloadavg())}
    show(report, console)
    if json_path:
        path = Path(json_path)
        report["chart"] = path.with_suffix(".png").name
        path.write_text(json.dumps(report, indent=2))
        write_chart(report, path.with_suffix(".png"))
        path.with_suffix(".md").write_text(markdown(report))
    return 0 if ok(report) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
