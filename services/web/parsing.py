"""Reading request bodies and query strings strictly."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from services.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(required: bool = True) -> Any:
    """The body parsed as JSON; a clear 400 when it is not."""
    data = request.get_data(cache=True)
    if not data.strip():
        if required:
            raise ApiError(400, "the request body must be a JSON document", field="body")
        return None
    try:
        return json.loads(data, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", field="body") from exc


def json_object(required: bool = True) -> dict[str, Any]:
    body = json_body(required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", field="body")
    return body


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: must be a whole number", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: must be between {low} and {high}", field=name)
    return value


def validated(model: type[M], raw: Any) -> M:
    """The body as `model`, or a 400 naming the first field that is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", field=where) from exc
