"""Every read and write of the `schedules` collection.

A schedule's `next_run_at` is the tick it fires at next (UTC), None while paused or when its
expression never matches. Firing a tick is one conditional update on that very value, so of two
beats or workers that found the same due tick, one advances it and the other does nothing.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from services.core import clock
from services.core.documents import Doc

# Changes kept on a schedule, newest last.
HISTORY_KEPT = 20


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.schedules: Collection = db["schedules"]

    def ensure_indexes(self) -> None:
        # Active schedules by their next tick: the firing query reads no paused one.
        self.schedules.create_index(
            [("next_run_at", ASCENDING)],
            name="active_by_next_run_at",
            partialFilterExpression={"paused": False},
        )

    def insert(self, doc: Doc) -> None:
        self.schedules.insert_one(doc)

    def get(self, name: str) -> Doc | None:
        return self.schedules.find_one({"_id": name})

    def page(self, after: str | None, limit: int) -> list[Doc]:
        """By name; `after` is the last name of the previous page."""
        query = {"_id": {"$gt": after}} if after else {}
        return list(self.schedules.find(query).sort("_id", ASCENDING).limit(limit))

    def change(self, name: str, fields: Doc, what: str, by: str | None) -> Doc | None:
        """Set `fields` and note the change in the schedule's history; the schedule after."""
        t = clock.now()
        entry = {"at": t, "by": by, "change": what}
        return self.schedules.find_one_and_update(
            {"_id": name},
            {
                "$set": {**fields, "updated_at": t},
                "$push": {"history": {"$each": [entry], "$slice": -HISTORY_KEPT}},
            },
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, name: str) -> bool:
        return self.schedules.delete_one({"_id": name}).deleted_count == 1

    def due(self, now: datetime, limit: int) -> list[Doc]:
        query = {"paused": False, "next_run_at": {"$lte": now}}
        return list(self.schedules.find(query).sort("next_run_at", ASCENDING).limit(limit))

    def advance(self, name: str, tick: datetime, following: datetime | None, run: Doc) -> bool:
        """Move past `tick`, if it is still the next one; False when another firer did. `run`:
        the tick's `last_job_id` and `last_error`."""
        done = self.schedules.update_one(
            {"_id": name, "paused": False, "next_run_at": tick},
            {"$set": {"next_run_at": following, "last_run_at": tick, **run}, "$inc": {"runs": 1}},
        )
        return done.modified_count == 1
