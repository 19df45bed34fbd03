"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from services.core import logs
from services.core.config import Settings, settings
from services.core.jobs import registry
from services.core.runtime import Runtime
from services.web import (
    auth,
    compat_api,
    current,
    errors,
    jobs_api,
    keys_api,
    metrics_api,
    schedules_api,
    system_api,
    tickets_api,
)
from services.web.dashboard import views as dashboard


def create_app(config: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The API on `runtime` (by default one made from `config`, by default the environment's):
    the views reach the database, the stores and the publisher only through it."""
    runtime = runtime or Runtime(config or settings())
    s = runtime.settings
    logs.configure(s.log_level)
    registry.load(s.job_modules)
    app = Flask("switchboard")
    app.extensions[current.EXTENSION] = runtime
    app.config["MAX_CONTENT_LENGTH"] = s.max_body_bytes
    # Keep clients' key order: payloads and results round-trip as sent.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)
    auth.register(app, lambda: runtime.keys, s.auth_cache_seconds)
    blueprints = (
        jobs_api,
        compat_api,
        system_api,
        metrics_api,
        schedules_api,
        tickets_api,
        keys_api,
        dashboard,
    )
    for module in blueprints:
        app.register_blueprint(module.bp)
    return app
