"""API keys for admins: make one (its token shown once), list them, revoke one."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.core import apikeys
from services.core.apikeys import KeyStore, Scope
from services.core.errors import NotFound
from services.web.auth import requires
from services.web.current import runtime
from services.web.errors import located
from services.web.parsing import json_object, validated

bp = Blueprint("keys", __name__)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    agent_id: str | None = None


def _store() -> KeyStore:
    return runtime().keys


@bp.post("/keys")
@requires(Scope.ADMIN)
def create_key() -> Response:
    wanted = validated(KeyRequest, json_object())
    if wanted.agent_id is not None and runtime().tickets.get_agent(wanted.agent_id) is None:
        raise NotFound(f"no agent with id {wanted.agent_id!r}", field="agent_id")
    # A request the store cannot honour is a 400 naming the field (InvalidKeyRequest).
    key, token = _store().create(wanted.name, frozenset(wanted.scopes), wanted.agent_id)
    return located({**apikeys.to_api(key), "key": token}, 201, f"/keys/{key.id}")


@bp.get("/keys")
@requires(Scope.ADMIN)
def list_keys() -> Response:
    return jsonify({"items": [apikeys.to_api(k) for k in _store().all()]})


@bp.delete("/keys/<key_id>")
@requires(Scope.ADMIN)
def revoke_key(key_id: str) -> Response:
    if not _store().revoke(key_id):
        raise NotFound(f"no key with id {key_id!r}")
    return Response(status=204)
