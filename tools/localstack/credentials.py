"""Internal credentials of a local stack: made once, kept in its data folder, owner-only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FLOWER_USER = "flower"


def flower_login_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "flower-login"


def flower_login(data_dir: Path) -> str:
    """Flower's `user:password`."""
    return _kept(flower_login_path(data_dir), f"{FLOWER_USER}:{secrets.token_hex(24)}")


def callback_secret(data_dir: Path) -> str:
    """The key that signs job callbacks (CALLBACK_SECRET), for receivers to check them with."""
    return _kept(data_dir / "secrets" / "callback-secret", secrets.token_hex(32))


def dashboard_secret(data_dir: Path) -> str:
    """The key that signs the dashboard's session cookies (DASHBOARD_SECRET)."""
    return _kept(data_dir / "secrets" / "dashboard-secret", secrets.token_hex(32))


def _kept(path: Path, new: str) -> str:
    """What `path` holds; `new`, written there with mode 0600, when it holds nothing yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two starts racing cannot both write, and an existing file is never replaced.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(new + "\n")
    return new
