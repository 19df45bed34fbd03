"""Who is calling, and may they: API keys on every route, checked before any other work.

Each view declares what it needs with `requires(...)` or `public`; a view that declares nothing is
for admin keys only, so a route added without a thought is closed, not open. What a key may do
with one particular job, agent or ticket (its own or any) is decided in the view, with the
helpers at the end of this module.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request, session

from services.core.apikeys import ApiKey, KeyStore, Scope
from services.core.errors import Forbidden
from services.core.jobs.document import JobDoc
from services.web.errors import envelope_of, error_response

F = TypeVar("F", bound=Callable[..., Any])
_ACCESS = "switchboard_access"
# Where a dashboard session keeps the API key it logged in with.
SESSION_TOKEN = "api_key"
# Keys seen at once per replica; past it the cache starts over rather than grow.
CACHE_MAX = 10_000


@dataclass(frozen=True)
class Access:
    # Any one of these scopes lets the key in (admin always does); empty: any valid key.
    scopes: frozenset[Scope]
    public: bool = False
    # Pages a browser opens (docs, Flower): ask for a login with Basic rather than Bearer.
    browser: bool = False
    # Dashboard pages: the key is the one logged in with its form, kept in the signed session
    # cookie (`services/web/dashboard/session.py`), never a header.
    session: bool = False


ADMIN_ONLY = Access(frozenset({Scope.ADMIN}))


def requires(*scopes: Scope, browser: bool = False, session: bool = False) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, _ACCESS, Access(frozenset(scopes), browser=browser, session=session))
        return view

    return mark


def public(view: F) -> F:
    setattr(view, _ACCESS, Access(frozenset(), public=True))
    return view


def access_of(view: Callable[..., Any] | None) -> Access:
    return getattr(view, _ACCESS, ADMIN_ONLY)


class KeyCache:
    """Keys by token, kept for a few seconds so a request does not wait on MongoDB to be let in.

    A revoked key therefore keeps working on a replica for at most `ttl` seconds.
    """

    def __init__(self, store: Callable[[], KeyStore], ttl: float) -> None:
        self._store, self._ttl = store, ttl
        self._seen: dict[str, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._seen.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        # An unknown token is not cached: a key made a moment ago must work at once.
        key = self._store().find(token)
        if key is not None:
            with self._lock:
                if len(self._seen) >= CACHE_MAX:
                    self._seen.clear()
                self._seen[token] = (key, now + self._ttl)
        return key


def presented_token() -> str | None:
    """The key from `Authorization: Bearer <key>`, or the password of `Basic`."""
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    kind, value = kind.lower(), value.strip()
    if kind == "bearer" and value:
        return value
    if kind == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _refusal(view: Callable[..., Any] | None, status: int, message: str, **extra: Any) -> Response:
    reply = envelope_of(view)
    return reply(status, message) if reply else error_response(status, message, **extra)


def _challenge(view: Callable[..., Any] | None, access: Access) -> Response:
    response = _refusal(view, 401, "missing or invalid API key")
    if access.session:
        return response  # the dashboard's own answer: its login form
    scheme = "Basic" if access.browser else "Bearer"
    response.headers["WWW-Authenticate"] = f'{scheme} realm="switchboard"'
    return response


def lookup_key(token: str) -> ApiKey | None:
    """The key with this token, through the same cache every request's check uses."""
    cache: KeyCache = current_app.extensions["switchboard.keys"]
    return cache.lookup(token)


def _check() -> Response | None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    access = access_of(view)
    if access.public:
        return None
    token = session.get(SESSION_TOKEN) if access.session else presented_token()
    key = lookup_key(token) if token else None
    if key is None:
        return _challenge(view, access)
    g.api_key = key
    # An unknown path or method (view None) goes on to its 404 or 405, now that the caller is known.
    if view is not None and access.scopes and not any(key.allows(s) for s in access.scopes):
        refused = forbid(sorted(access.scopes)[0])
        return _refusal(view, refused.status, refused.message, **refused.extra)
    return None


def register(app: Flask, keys: Callable[[], KeyStore], ttl: float) -> None:
    app.extensions["switchboard.keys"] = KeyCache(keys, ttl)
    app.before_request(_check)
    app.register_blueprint(bp)


# -- what a key may do with one resource -----------------------------------------------------------


def current_key() -> ApiKey:
    key: ApiKey = g.api_key
    return key


def forbid(scope: Scope, why: str = "") -> Forbidden:
    return Forbidden(why or f"this key lacks the scope {scope}", scope=str(scope))


def may_read_job(doc: JobDoc) -> bool:
    """Any job for `jobs:read`; otherwise only the jobs this key submitted."""
    key = current_key()
    return key.allows(Scope.JOBS_READ) or doc.get("submitted_by") == key.id


def check_job(doc: JobDoc) -> None:
    if not may_read_job(doc):
        raise forbid(Scope.JOBS_READ)


def check_agent(agent_id: str) -> None:
    """`tickets:write` reaches every agent; an agent's key only its own."""
    key = current_key()
    if not key.allows(Scope.TICKETS_WRITE) and key.agent_id != agent_id:
        raise forbid(Scope.TICKETS_WRITE, f"this key acts for agent {key.agent_id} only")


def check_ticket(doc: dict[str, Any]) -> None:
    """`tickets:write` reaches every ticket; an agent's key only the tickets assigned to it."""
    check_agent(doc.get("agent_id") or "")


bp = Blueprint("auth", __name__)


@bp.get("/auth/flower")
@requires(Scope.ADMIN, browser=True)
def flower_login() -> Response:
    """Nginx's `auth_request` for Flower: 204 lets an admin through; `_check` refuses the rest."""
    return Response(status=204)
