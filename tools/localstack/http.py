"""The one JSON POST the benchmarks make outside wrk."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def headers(key: str) -> dict[str, str]:
    """What every request to a stack carries: JSON, and its API key."""
    return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}


def post_json(
    base_url: str, path: str, body: Any, key: str, timeout: float = 120
) -> tuple[int, Any]:
    """Status and parsed body; an error status is returned, not raised."""
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), headers=headers(key)
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def post_ok(base_url: str, path: str, body: Any, key: str) -> Any:
    """The parsed body of a 2xx answer; anything else is an error worth stopping the run for."""
    status, reply = post_json(base_url, path, body, key)
    if not 200 <= status < 300:
        raise RuntimeError(f"POST {path} answered {status}: {str(reply)[:300]}")
    return reply
