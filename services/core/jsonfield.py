"""Client JSON: read strictly, and stored as text so it round-trips exactly.

MongoDB and FerretDB refuse keys with `.` or a leading `$`, FerretDB refuses nested arrays, and
BSON has no integers wider than 64 bits; a JSON string sidesteps all of them.
NaN and the infinities are refused (ValueError): no client could read them back.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict

# An escape for half of a surrogate pair; only when one is present can a string hold a lone one
# (the UTF-8 decoder refuses encoded surrogates).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(ValueError):
    """A document that is not strict JSON; the message is safe to show to the client."""


def integral(value: Any) -> Any:
    """2.0 is the integer 2, as JSON Schema has it; 2.5, `true` and "2" stay what they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer field of client JSON: strict (no booleans, no strings), yet 2.0 counts as 2.
Integer = Annotated[int, BeforeValidator(integral), Strict()]


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def parse(data: bytes, max_depth: int) -> Any:
    """A client's document, refused (InvalidJson) unless it is UTF-8 JSON with finite numbers,
    no lone surrogates in keys or strings, and at most `max_depth` levels of nesting."""
    try:
        value = json.loads(data.decode(), parse_constant=_no_constant, parse_float=_finite)
    except InvalidJson:
        raise
    except UnicodeDecodeError:
        raise InvalidJson("it is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:  # an integer beyond Python's digit limit
        raise InvalidJson("a number has too many digits") from None
    deep = data.count(b"[") + data.count(b"{") > max_depth
    if deep or _SURROGATE_ESCAPE.search(data):
        _check_tree(value, max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJson(f"the number {text[:40]} is too large")
    return number


def _too_deep(max_depth: int) -> InvalidJson:
    return InvalidJson(f"it nests deeper than {max_depth} levels")


def _check_string(text: str) -> None:
    if _SURROGATE.search(text):
        raise InvalidJson("a string holds a lone surrogate (\\ud800-\\udfff), which is not Unicode")


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and strings, walked without recursion: the nesting is the client's to choose."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= max_depth:
            raise _too_deep(max_depth)
        if isinstance(node, dict):
            for key in node:
                _check_string(key)
            stack.extend((child, depth + 1) for child in node.values())
        else:
            stack.extend((child, depth + 1) for child in node)
