"""What a request works with: the runtime of the app serving it (`create_app`)."""

from __future__ import annotations

from flask import current_app

from services.core.runtime import Runtime

EXTENSION = "switchboard.runtime"


def runtime() -> Runtime:
    made: Runtime = current_app.extensions[EXTENSION]
    return made
