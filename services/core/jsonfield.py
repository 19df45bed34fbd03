"""Client JSON stored as text, so it round-trips exactly.

MongoDB and FerretDB refuse keys with `.` or a leading `$`, FerretDB refuses nested arrays, and
BSON has no integers wider than 64 bits; a JSON string sidesteps all of them.
"""

from __future__ import annotations

import json
from typing import Any


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
