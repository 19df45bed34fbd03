"""Reading request bodies, headers and query strings strictly, in one place for every route.

A body is JSON only when it says so (`Content-Type: application/json`, UTF-8), so a cross-site
form or text/plain POST is a 415; it is then parsed by `jsonfield.parse`: no NaN or Infinity,
no lone surrogates, a bounded depth.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from services.core import jsonfield
from services.core.errors import InvalidRequest, UnsupportedMediaType
from services.web.current import runtime
from services.web.errors import too_large

JSON_TYPE = "application/json"
IDEMPOTENCY_KEY_MAX = 255
# Printable ASCII: what every client library can send and every log can show.
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]+")
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")

M = TypeVar("M", bound=BaseModel)


def _require_json_type() -> None:
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if request.mimetype != JSON_TYPE or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"the request body must be sent as {JSON_TYPE} (UTF-8)", field="Content-Type"
        )


def _raw_body() -> bytes:
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large() from None


def json_body(required: bool = True) -> Any:
    """The body parsed as JSON; a clear 415, 413 or 400 when it is not.

    Without `required`, an empty body is None and needs no Content-Type (a GET).
    """
    if required:
        _require_json_type()
    data = _raw_body()
    if not data.strip():
        if required:
            raise InvalidRequest("the request body must be a JSON document", field="body")
        return None
    _require_json_type()
    try:
        return jsonfield.parse(data, runtime().settings.json_max_depth)
    except jsonfield.InvalidJson as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", field="body") from None


def json_object(required: bool = True) -> dict[str, Any]:
    body = json_body(required)
    if body is None and not required:
        return {}  # no body at all
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", field="body")
    return body


def idempotency_key() -> str | None:
    """The Idempotency-Key header: 1 to 255 printable ASCII characters, or absent."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (
        len(key) <= IDEMPOTENCY_KEY_MAX and _IDEMPOTENCY_KEY.fullmatch(key)
    ):
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    # int() would also take " 5", "5_000", other scripts' digits, and refuse 5,000 digits.
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise InvalidRequest(f"{name}: must be a whole number", field=name)
    value = int(raw)
    if not low <= value <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}", field=name)
    return value


def validated(model: type[M], raw: Any) -> M:
    """The body as `model`, or a 400 naming the first field that is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}", field=where) from exc
