"""Who is asking: a bearer API token (scripts) or a session cookie (browsers), as FastAPI
dependencies. Cookie sessions must send their CSRF token (synchronizer token, header
``X-CSRF-Token``) on every unsafe method; a bearer token needs none (a browser never sends one
by itself). Permissions come from ``users.roles`` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import logging
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from ..contacts.audit import record_audit
from ..users.accounts import authenticate
from ..users.roles import Permission, allowed
from ..users.secrets import same
from ..users.sessions import LIFETIME, open_session, session_for_cookie
from ..users.tokens import user_for_token
from .errors import fail

log = logging.getLogger(__name__)
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOGIN_FIX = "log in with POST /api/v1/session, or send Authorization: Bearer TOKEN " \
             "(sc-asterisk user token create USER --name NAME)"


@dataclass(frozen=True)
class Principal:
    """The user behind a request. ``actor`` is how the audit log names them."""

    username: str
    role: str
    via: str                       # "token" or "session"
    csrf_token: str | None = None  # sessions only

    @property
    def actor(self) -> str:
        return f"web:{self.username}"


def cookie_name(request: Request) -> str:
    """``__Host-`` cookies must be Secure: the prefix goes with the flag."""
    return "__Host-sc_session" if request.app.state.secure_cookies else "sc_session"


def principal(request: Request) -> Principal:
    """The authenticated user, or 401; a cookie session's unsafe request without its CSRF
    token is a 403."""
    db = request.app.state.db
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            fail(401, "the Authorization header is not 'Bearer TOKEN'", _LOGIN_FIX,
                 {"WWW-Authenticate": "Bearer"})
        with db.session() as s:
            user = user_for_token(s, token.strip())
            found = (user.username, user.role) if user is not None else None
        if found is None:
            fail(401, "unknown or revoked API token", _LOGIN_FIX, {"WWW-Authenticate": "Bearer"})
        return Principal(found[0], found[1], "token")
    cookie = request.cookies.get(cookie_name(request))
    if not cookie:
        fail(401, "not logged in", _LOGIN_FIX, {"WWW-Authenticate": "Bearer"})
    with db.session() as s:
        found = session_for_cookie(s, cookie)
        who = (found[0].username, found[0].role, found[1].csrf_token) if found else None
    if who is None:
        fail(401, "session expired or logged out", _LOGIN_FIX, {"WWW-Authenticate": "Bearer"})
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not same(sent, who[2]):
            fail(403, "missing or wrong CSRF token",
                 f"send the {CSRF_HEADER} header given at login (GET /api/v1/me shows it)")
    return Principal(who[0], who[1], "session", who[2])


def check_same_origin(request: Request) -> None:
    """Refuse a login posted from another site's page (login CSRF: logging a browser into
    someone else's account). Browsers send ``Origin`` with every POST."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        fail(403, "login from another site refused", "log in from this console's own page")


def start_session(db, username: str, password: str) -> tuple[Principal, str] | None:
    """Log a user in: their principal and the session cookie's value, or None (wrong name or
    password). Audited. The JSON login and the console's login form both come here.

    Example: ``who, cookie = start_session(db, "alice", "correct horse battery")``
    """
    with db.session() as s:
        user = authenticate(s, username, password)
        if user is None:
            log.warning("failed login for a user name of %d characters", len(username))
            return None
        cookie, csrf = open_session(s, user)
        record_audit(s, "login", None, {}, f"web:{user.username}")
        return Principal(user.username, user.role, "session", csrf), cookie


def set_session_cookie(request: Request, response: Response, cookie: str | None) -> None:
    """Set (or, with None, delete) the session cookie: Secure, HttpOnly, SameSite=Strict."""
    secure = request.app.state.secure_cookies
    if cookie is None:
        response.delete_cookie(cookie_name(request), path="/", secure=secure, httponly=True,
                               samesite="strict")
    else:
        response.set_cookie(cookie_name(request), cookie, max_age=int(LIFETIME.total_seconds()),
                            path="/", secure=secure, httponly=True, samesite="strict")


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the principal, if their role holds *permission*, else 403.

    Example: ``def route(who: Principal = Depends(require(Permission.CAMPAIGN_READ))): ...``
    """
    def dependency(who: Principal = Depends(principal)) -> Principal:
        if not allowed(who.role, permission):
            fail(403, f"role {who.role} may not {permission.value}",
                 "ask an admin for a role that may (sc-asterisk user list)")
        return who
    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency
