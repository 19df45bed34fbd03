"""Health, statistics, and the API's own description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, send_from_directory
from swagger_ui.utils import SWAGGER_UI_PY_ROOT

from services.core import health
from services.core.apikeys import Scope
from services.core.jobs.counts import grouped
from services.web import openapi
from services.web.auth import public, requires
from services.web.current import runtime

bp = Blueprint("system", __name__)
# Swagger UI 5 (the first to read OpenAPI 3.1), served from the package's own files.
SWAGGER_UI_FILES = SWAGGER_UI_PY_ROOT / "static"
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Switchboard API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: {{ spec_url | tojson }},
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
    });
  </script>
</body>
</html>
"""


@bp.get("/health")
@public
def get_health() -> Response:
    problems = {
        "mongodb": health.mongo_problem(runtime().database),
        "rabbitmq": health.broker_problem(),
    }
    checks = {name: problem or "PASS" for name, problem in problems.items()}
    healthy = not any(problems.values())
    response = jsonify(
        {
            "success": healthy,
            "message": "Completed Health Check",
            "data": {
                "status": "PASS" if healthy else "FAIL",
                "info": "All services are online" if healthy else "Some services are offline",
                "checks": checks,
            },
        }
    )
    response.status_code = 200 if healthy else 503
    if not healthy:
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/stats")
@requires(Scope.JOBS_READ)
def get_stats() -> Response:
    counts = grouped(runtime().jobs.counts())
    depths = health.queue_depths()
    stats: dict[str, Any] = {
        "jobs": {"total": counts.total, "by_status": counts.by_status, "by_type": counts.by_type},
        "queues": depths,
        "workers_online": depths["jobs"]["consumers"],
    }
    return jsonify(stats)


# The description is also under /docs/, where a browser that logged in to /docs with Basic sends
# the same credentials again without asking.
@bp.get("/openapi.json")
@bp.get("/docs/openapi.json")
@requires(browser=True)
def get_openapi() -> Response:
    return jsonify(openapi.build(runtime().settings))


@bp.get("/docs")
@bp.get("/docs/")
@requires(browser=True)
def get_docs() -> str:
    return render_template_string(DOCS_PAGE, spec_url="/docs/openapi.json")


@bp.get("/docs/<path:filename>")
@requires(browser=True)
def get_docs_asset(filename: str) -> Response:
    return send_from_directory(SWAGGER_UI_FILES, filename)
