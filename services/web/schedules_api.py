"""The schedules API: recurring jobs to create, read, change, pause, resume and delete."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from services.core.apikeys import Scope
from services.core.errors import InvalidRequest
from services.core.schedules import book
from services.core.schedules.requests import SchedulePatch, ScheduleRequest
from services.core.schedules.store import Doc
from services.web.auth import current_key, requires
from services.web.current import runtime
from services.web.errors import found, located
from services.web.parsing import int_arg, json_object, validated

bp = Blueprint("schedules", __name__)
MAX_PAGE = 500
NAME = "<string(maxlength=64):name>"


def _answer(doc: Doc | None, name: str) -> Response:
    return jsonify(book.to_api(found(doc, "schedule", name)))


def _callbacks_on() -> bool:
    return bool(runtime().settings.callback_secret)


@bp.post("/schedules")
@requires(Scope.JOBS_WRITE)
def create_schedule() -> Response:
    wanted = validated(ScheduleRequest, json_object())
    doc = book.create(runtime().schedules, wanted, current_key().id, _callbacks_on())
    return located(book.to_api(doc), 201, f"/schedules/{doc['_id']}")


@bp.get("/schedules")
@requires(Scope.JOBS_READ)
def list_schedules() -> Response:
    limit = int_arg("limit", 100, 1, MAX_PAGE)
    after = request.args.get("cursor") or None
    if after is not None and len(after) > 64:
        raise InvalidRequest("cursor: not one this API gave", field="cursor")
    docs = runtime().schedules.page(after, limit + 1)
    more = len(docs) > limit
    items = [book.to_api(d) for d in docs[:limit]]
    return jsonify({"items": items, "next": items[-1]["name"] if more else None})


@bp.get(f"/schedules/{NAME}")
@requires(Scope.JOBS_READ)
def get_schedule(name: str) -> Response:
    return _answer(runtime().schedules.get(name), name)


@bp.patch(f"/schedules/{NAME}")
@requires(Scope.JOBS_WRITE)
def change_schedule(name: str) -> Response:
    patch = validated(SchedulePatch, json_object())
    doc = book.update(runtime().schedules, name, patch, current_key().id, _callbacks_on())
    return _answer(doc, name)


@bp.delete(f"/schedules/{NAME}")
@requires(Scope.JOBS_WRITE)
def delete_schedule(name: str) -> Response:
    found(runtime().schedules.delete(name) or None, "schedule", name)
    return Response(status=204)


@bp.post(f"/schedules/{NAME}/pause")
@requires(Scope.JOBS_WRITE)
def pause_schedule(name: str) -> Response:
    return _answer(book.pause(runtime().schedules, name, current_key().id), name)


@bp.post(f"/schedules/{NAME}/resume")
@requires(Scope.JOBS_WRITE)
def resume_schedule(name: str) -> Response:
    return _answer(book.resume(runtime().schedules, name, current_key().id), name)
