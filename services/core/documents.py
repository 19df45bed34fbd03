"""A stored document as the code handles it: what pymongo reads and writes, keyed by field name.

Each store documents its collection's fields where it makes the documents (`new_job`,
`new_ticket`, ...); docs/data-model.md lists them with the index that serves each query.
"""

from collections.abc import Mapping
from typing import Any

Doc = dict[str, Any]
# A document only read, never changed (the matching of tickets to agents).
ReadOnlyDoc = Mapping[str, Any]
