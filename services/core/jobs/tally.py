"""Finished-job counters written beside a worker's jobs, not in their path.

A worker's attempt ends with its outcome write; the counter `$inc` after it used to be a third
database round trip per job. Here it goes to a thread that writes what has gathered at most every
`LINGER` seconds: one write for many jobs under load, so the counters lag the jobs by that much.
As before, a process killed between a job's outcome and its counter leaves the counter short:
now by what it gathered in that time.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from pymongo.collection import Collection
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)
# How long increments gather before they are written: fewer writes, a longer lag.
LINGER = 0.2
# How long to wait before writing again when the database refused the last write.
RETRY_PAUSE = 1.0
# (document id, field) -> how much to add
Increments = defaultdict[tuple[str, str], float]


class Tally:
    """`add` returns at once; one thread moves the counters in `collection`."""

    def __init__(self, collection: Collection, linger: float = LINGER) -> None:
        self._collection = collection
        self._linger = linger
        self._pending: Increments = defaultdict(int)
        self._changed = threading.Condition()
        self._writing = False
        # Set by flush(), when the process is ending: from then on, no more lingering.
        self._rest = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tally", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return f"the counters of {self._collection.name}"

    def add(self, doc_id: str, field: str, n: float = 1) -> None:
        with self._changed:
            self._pending[(doc_id, field)] += n
            self._changed.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything added so far is written; False if it is not within `timeout`."""
        self._rest.set()
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._writing, timeout)

    def _loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                counts, self._pending = self._pending, defaultdict(int)
                self._writing = True
            written = self._write(counts)
            with self._changed:
                if not written:
                    for key, n in counts.items():
                        self._pending[key] += n
                self._writing = False
                self._changed.notify_all()
            self._rest.wait(self._linger if written else RETRY_PAUSE)

    def _write(self, counts: Increments) -> bool:
        """One `$inc` per document (a worker's jobs are mostly of one or two types)."""
        by_doc: dict[str, dict[str, float]] = {}
        for (doc_id, field), n in counts.items():
            if n:
                by_doc.setdefault(doc_id, {})[field] = n
        try:
            for doc_id, inc in list(by_doc.items()):
                self._collection.update_one({"_id": doc_id}, {"$inc": inc}, upsert=True)
                del by_doc[doc_id]
        except PyMongoError as exc:
            log.warning("%s not written yet: %s", self.name, exc)
            counts.clear()
            counts.update({(d, f): n for d, inc in by_doc.items() for f, n in inc.items()})
            return False
        return True
