"""Logging in and out (browser sessions) and who am I."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, Response

from ...contacts.audit import record_audit
from ...users.accounts import authenticate
from ...users.roles import PERMISSIONS, allowed
from ...users.sessions import LIFETIME, close_session, open_session
from ..auth import Principal, cookie_name, principal
from ..errors import fail
from ..schemas import Login, Me

router = APIRouter(tags=["session"])
log = logging.getLogger(__name__)


@router.post("/session", response_model=Me)
def login(body: Login, request: Request, response: Response) -> Me:
    """Log in: sets the session cookie (Secure, HttpOnly, SameSite=Strict) and returns the
    CSRF token to send as ``X-CSRF-Token`` on every unsafe request."""
    db = request.app.state.db
    with db.session() as s:
        user = authenticate(s, body.username, body.password)
        if user is not None:
            cookie, csrf = open_session(s, user)
            record_audit(s, "login", None, {}, f"web:{user.username}")
            who = Principal(user.username, user.role, "session", csrf)
    if user is None:
        log.warning("failed login for a user name of %d characters", len(body.username))
        fail(401, "wrong user name or password", "check both, or ask an admin "
             "(sc-asterisk user add NAME --role ROLE)")
    response.set_cookie(cookie_name(request), cookie, max_age=int(LIFETIME.total_seconds()),
                        path="/", secure=request.app.state.secure_cookies, httponly=True,
                        samesite="strict")
    return _me(who)


@router.delete("/session", status_code=204)
def logout(request: Request, response: Response, who: Principal = Depends(principal)) -> None:
    """Log out: the session is deleted (a bearer token is revoked with the CLI instead)."""
    cookie = request.cookies.get(cookie_name(request))
    with request.app.state.db.session() as s:
        if who.via == "session" and cookie:
            close_session(s, cookie)
            record_audit(s, "logout", None, {}, who.actor)
    response.delete_cookie(cookie_name(request), path="/",
                           secure=request.app.state.secure_cookies, httponly=True,
                           samesite="strict")


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(principal)) -> Me:
    """Who you are, what your role may do, and your session's CSRF token."""
    return _me(who)


def _me(who: Principal) -> Me:
    return Me(username=who.username, role=who.role, via=who.via, csrf_token=who.csrf_token,
              permissions=[p.value for p in PERMISSIONS if allowed(who.role, p)])
