"""Logging in and out (browser sessions) and who am I."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from ...contacts.audit import record_audit
from ...users.roles import PERMISSIONS, allowed
from ...users.sessions import close_session
from ..auth import (Principal, check_same_origin, cookie_name, principal, set_session_cookie,
                    start_session)
from ..errors import fail
from ..schemas import Login, Me

router = APIRouter(tags=["session"])
WRONG_LOGIN = "wrong user name or password"
WRONG_LOGIN_FIX = "check both, or ask an admin (sc-asterisk user add NAME --role ROLE)"


@router.post("/session", response_model=Me)
def login(body: Login, request: Request, response: Response) -> Me:
    """Log in: sets the session cookie (Secure, HttpOnly, SameSite=Strict) and returns the
    CSRF token to send as ``X-CSRF-Token`` on every unsafe request."""
    check_same_origin(request)
    started = start_session(request.app.state.db, body.username, body.password)
    if started is None:
        fail(401, WRONG_LOGIN, WRONG_LOGIN_FIX)
    who, cookie = started
    set_session_cookie(request, response, cookie)
    return _me(who)


@router.delete("/session", status_code=204)
def logout(request: Request, response: Response, who: Principal = Depends(principal)) -> None:
    """Log out: the session is deleted (a bearer token is revoked with the CLI instead)."""
    cookie = request.cookies.get(cookie_name(request))
    with request.app.state.db.session() as s:
        if who.via == "session" and cookie:
            close_session(s, cookie)
            record_audit(s, "logout", None, {}, who.actor)
    set_session_cookie(request, response, None)


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(principal)) -> Me:
    """Who you are, what your role may do, and your session's CSRF token."""
    return _me(who)


def _me(who: Principal) -> Me:
    return Me(username=who.username, role=who.role, via=who.via, csrf_token=who.csrf_token,
              permissions=[p.value for p in PERMISSIONS if allowed(who.role, p)])
