"""Entry point of beat, the one scheduler of the periodic maintenance tasks."""

from pathlib import Path

from services.core.config import settings
from services.core.process import exec_celery


def main() -> None:
    s = settings()
    schedule = Path(s.data_dir) / "beat" / "schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    exec_celery("beat", f"--schedule={schedule}", f"--loglevel={s.log_level}")


if __name__ == "__main__":
    main()
