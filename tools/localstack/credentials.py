"""Internal credentials of a local stack: made once, kept in its data folder, owner-only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FLOWER_USER = "flower"


def flower_login_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "flower-login"


def flower_login(data_dir: Path) -> str:
    """Flower's `user:password`, created on first use with mode 0600 and reused afterwards."""
    path = flower_login_path(data_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two starts racing cannot both write, and an existing file is never replaced.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    login = f"{FLOWER_USER}:{secrets.token_hex(24)}"
    with os.fdopen(fd, "w") as file:
        file.write(login + "\n")
    return login
