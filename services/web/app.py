"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from services.core.config import Settings, settings
from services.core.jobs import registry
from services.web import auth, compat_api, errors, jobs_api, keys_api, system_api, tickets_api


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
    for blueprint in (jobs_api.bp, compat_api.bp, system_api.bp, tickets_api.bp, keys_api.bp):
        app.register_blueprint(blueprint)
    return app
