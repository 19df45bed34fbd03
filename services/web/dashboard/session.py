"""The dashboard's login: an API key pasted into a form, kept in a signed session cookie.

A browser cannot send `Authorization: Bearer` on plain navigation, so the dashboard keeps the key
in Flask's session cookie instead: signed with DASHBOARD_SECRET (the same on every replica),
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and sent only to
/dashboard paths, so the API itself never accepts it. Each request checks the key again, through
the same cache and scopes as a Bearer key (`auth._check`): a revoked key stops working within
AUTH_CACHE_SECONDS. Every form that changes something carries a CSRF token kept in the session.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, Request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from services.core.apikeys import ApiKey
from services.core.config import Settings
from services.core.errors import Forbidden, Unavailable
from services.web.auth import SESSION_TOKEN

COOKIE = "switchboard_dashboard"
PATH = "/dashboard"
CSRF = "csrf"
CSRF_FIELD = "csrf_token"


class DashboardOff(Unavailable):
    """No DASHBOARD_SECRET: sessions cannot be signed, so nobody can log in."""

    def __init__(self) -> None:
        super().__init__("the dashboard is off here: the deployment sets no DASHBOARD_SECRET")


class StaleForm(Forbidden):
    def __init__(self) -> None:
        super().__init__("this form is out of date or was not sent by the dashboard: reload it")


class DashboardSessions(SecureCookieSessionInterface):
    """Sessions for the dashboard's pages only. Flask opens one for every request, which costs
    an API request about a twentieth of its CPU for a cookie the browser never sends it."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(PATH):
            return None
        return super().open_session(app, request)


def configure(app: Flask, s: Settings) -> None:
    app.session_interface = DashboardSessions()
    app.secret_key = s.dashboard_secret or None
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH=PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=s.dashboard_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=s.dashboard_session_seconds),
    )


def enabled(s: Settings) -> bool:
    return bool(s.dashboard_secret)


def csrf_token() -> str:
    """This session's CSRF token, made on first use (the login form's comes before any login)."""
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def check_csrf(sent: str | None) -> None:
    kept = session.get(CSRF)
    if not isinstance(kept, str) or not sent or not hmac.compare_digest(kept, sent):
        raise StaleForm()


def log_in(token: str, key: ApiKey) -> None:
    """A fresh session for `key` (a new CSRF token too: one fixed before login is not kept)."""
    session.clear()
    session[SESSION_TOKEN] = token
    session["key_name"] = key.name
    session[CSRF] = secrets.token_urlsafe(32)
    session.permanent = True


def log_out() -> None:
    session.clear()
