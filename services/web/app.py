"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from services.core.config import Settings, settings
from services.core.jobs import registry
from services.web import (
    auth,
    compat_api,
    errors,
    jobs_api,
    keys_api,
    metrics_api,
    system_api,
    tickets_api,
)


def create_app(config: Settings | None = None) -> Flask:
    s = config or settings()
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry.load(s.job_modules)
    app = Flask("switchboard")
    app.config["MAX_CONTENT_LENGTH"] = s.max_body_bytes
    # Keep clients' key order: payloads and results round-trip as sent.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)
    auth.register(app, s.auth_cache_seconds)
    blueprints = (jobs_api, compat_api, system_api, metrics_api, tickets_api, keys_api)
    for module in blueprints:
        app.register_blueprint(module.bp)
    return app
