"""Health, statistics, and the API's own description."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from services.core import health
from services.core.apikeys import Scope
from services.web import openapi
from services.web.auth import public, requires
from services.web.current import runtime

bp = Blueprint("system", __name__)


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
    by_status: dict[str, int] = defaultdict(int)
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    for row in runtime().jobs.counts():
        by_status[row["status"]] += row["count"]
        by_type[row["type"]][row["status"]] = row["count"]
    depths = health.queue_depths()
    stats: dict[str, Any] = {
        "jobs": {"total": sum(by_status.values()), "by_status": by_status, "by_type": by_type},
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
    template = (swagger_ui_path / "index.j2").read_text()
    return render_template_string(template, openapi_spec_url="/docs/openapi.json").replace(
        "./swagger", "/docs/swagger"
    )


@bp.get("/docs/<path:filename>")
@requires(browser=True)
def get_docs_asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename)
