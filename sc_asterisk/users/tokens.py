"""Bearer API tokens for scripts: ``sct_<id>_<secret>``, shown once, stored as a digest.

Example::

    with db.session() as s:
        token = create_token(s, "alice", "crm")     # print it once; it is never shown again
        user = user_for_token(s, token)
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..contacts.audit import record_audit
from ..db.models_web import ApiToken, WebUser
from ..errors import ConfigError, NotFound
from .accounts import get_user
from .secrets import digest, new_secret, same

PREFIX = "sct_"
_TOKEN = re.compile(r"^sct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# How stale a token's last-use stamp may get.
USE_STAMP_EVERY = timedelta(minutes=5)


def create_token(s: Session, username: str, name: str, actor: str | None = None) -> str:
    """A new token for *username*, returned in the clear this once; audited.

    Example: ``create_token(s, "alice", "crm")`` -> ``"sct_0f1e..._Xy..."``
    """
    if not _NAME.match(name):
        raise ConfigError(f"bad token name {name!r}",
                          fix="use letters, digits, '.', '_' or '-' (max 64)")
    user = get_user(s, username)
    token_id, secret = secrets.token_hex(8), new_secret()
    s.add(ApiToken(token_id=token_id, digest=digest(secret), user_id=user.id, name=name))
    s.flush()
    record_audit(s, "token-create", None, {"user": username, "token": token_id, "name": name},
                 actor)
    return f"{PREFIX}{token_id}_{secret}"


def list_tokens(s: Session, username: str | None = None) -> list[tuple[ApiToken, str]]:
    """Tokens (never their secret) with their user's name. Example: ``list_tokens(s, "alice")``"""
    query = select(ApiToken, WebUser.username).join(WebUser).order_by(ApiToken.id)
    if username is not None:
        query = query.where(WebUser.username == username)
    return [(t, name) for t, name in s.execute(query).all()]


def revoke_token(s: Session, token_id: str, actor: str | None = None) -> None:
    """Delete a token by its id (the part after ``sct_``); audited.

    Example: ``revoke_token(s, "0f1e2d3c4b5a6978")``
    """
    row = s.scalar(select(ApiToken).where(ApiToken.token_id == token_id))
    if row is None:
        raise NotFound(f"no API token {token_id!r}", fix="see: sc-asterisk user token list")
    s.delete(row)
    record_audit(s, "token-revoke", None, {"token": token_id}, actor)


def user_for_token(s: Session, token: str) -> WebUser | None:
    """The user a presented token belongs to, or None (malformed, unknown or revoked).

    Example: ``user_for_token(s, request_token)``
    """
    match = _TOKEN.match(token)
    if match is None:
        return None
    row = s.scalar(select(ApiToken).where(ApiToken.token_id == match.group(1)))
    if row is None or not same(row.digest, digest(match.group(2))):
        return None
    now = datetime.now(timezone.utc)
    last = row.last_used_at
    if last is None or (last if last.tzinfo else last.replace(tzinfo=timezone.utc)) \
            < now - USE_STAMP_EVERY:
        # a write per request would queue every API call behind the dialer's writers
        row.last_used_at = now
    return s.get(WebUser, row.user_id)
