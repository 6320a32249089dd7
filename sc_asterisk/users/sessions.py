"""Browser sessions: a random id in an HttpOnly cookie, its digest and a CSRF token in the
database (a synchronizer token: the browser sends it back in a header or form field on every
unsafe request, and it is compared with the stored one).

Example::

    with db.session() as s:
        cookie, csrf = open_session(s, user)
        found = session_for_cookie(s, cookie)    # (user, session) or None
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.models_web import WebSession, WebUser
from .secrets import digest, new_secret

LIFETIME = timedelta(hours=12)


def open_session(s: Session, user: WebUser, now: datetime | None = None) -> tuple[str, str]:
    """A new session for *user*: (cookie value, CSRF token). Expired sessions are purged.

    Example: ``cookie, csrf = open_session(s, user)``
    """
    now = now or datetime.now(timezone.utc)
    s.execute(delete(WebSession).where(WebSession.expires_at < now))
    cookie, csrf = new_secret(), secrets.token_hex(32)
    s.add(WebSession(digest=digest(cookie), csrf_token=csrf, user_id=user.id,
                     expires_at=now + LIFETIME))
    s.flush()
    return cookie, csrf


def session_for_cookie(s: Session, cookie: str, now: datetime | None = None
                       ) -> tuple[WebUser, WebSession] | None:
    """The user and session of a cookie, or None (unknown or expired)."""
    now = now or datetime.now(timezone.utc)
    row = s.scalar(select(WebSession).where(WebSession.digest == digest(cookie)))
    if row is None or _aware(row.expires_at) <= now:
        return None
    user = s.get(WebUser, row.user_id)
    return (user, row) if user is not None else None


def close_session(s: Session, cookie: str) -> None:
    """Log out: the session is deleted. Example: ``close_session(s, cookie)``"""
    s.execute(delete(WebSession).where(WebSession.digest == digest(cookie)))


def _aware(at: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns: they were stored as UTC.
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
