"""Entry point of beat, the one scheduler of the periodic maintenance tasks."""

import os
import sys
from pathlib import Path

from services.core.config import settings

s = settings()
schedule = Path(s.data_dir) / "beat" / "schedule"
schedule.parent.mkdir(parents=True, exist_ok=True)
os.execvp(
    sys.executable,
    [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "services.core.celery_app",
        "beat",
        "--schedule",
        str(schedule),
        "--loglevel",
        s.log_level,
    ],
)
