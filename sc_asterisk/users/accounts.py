"""Users of the console and the API: add, list, remove, log in.

Example::

    with db.session() as s:
        add_user(s, "alice", "correct horse battery", "operator")
        user = authenticate(s, "alice", "correct horse battery")
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..contacts.audit import record_audit
from ..db.models_web import WebUser
from ..errors import ConfigError, NotFound
from .roles import ROLES
from .secrets import hash_password, verify_password

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,59}$")
MIN_PASSWORD = 12


def check_password(password: str) -> str:
    """Refuse a password too short to resist guessing. Example: ``check_password("x" * 12)``"""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password shorter than {MIN_PASSWORD} characters",
                          fix="choose a longer one (a passphrase of four words will do)")
    return password


def add_user(s: Session, username: str, password: str, role: str,
             actor: str | None = None) -> WebUser:
    """Create a user with *role* (operator, analyst, engineer, admin); audited.

    Example: ``add_user(s, "alice", "correct horse battery", "operator")``
    """
    if not _NAME.match(username):
        raise ConfigError(f"bad user name {username!r}",
                          fix="use lower-case letters, digits, '.', '_', '@' or '-' (max 60)")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", fix="use one of: " + ", ".join(ROLES))
    check_password(password)
    if find_user(s, username) is not None:
        raise ConfigError(f"user {username!r} already exists",
                          fix="choose another name, or remove it first: sc-asterisk user remove")
    user = WebUser(username=username, password_hash=hash_password(password), role=role)
    s.add(user)
    s.flush()
    record_audit(s, "user-add", None, {"user": username, "role": role}, actor)
    return user


def one_time_admin(s: Session, username: str = "admin", actor: str | None = None) -> str:
    """Create an admin with a random password and return it (to show once): the demo's way
    in to the console. Example: ``password = one_time_admin(s)``"""
    password = secrets.token_urlsafe(15)
    add_user(s, username, password, "admin", actor)
    return password


def find_user(s: Session, username: str) -> WebUser | None:
    return s.scalar(select(WebUser).where(WebUser.username == username))


def get_user(s: Session, username: str) -> WebUser:
    """The user named *username*, or NotFound naming the fix."""
    user = find_user(s, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", fix="see: sc-asterisk user list")
    return user


def list_users(s: Session) -> list[WebUser]:
    """Every user, by name. Example: ``[u.username for u in list_users(s)]``"""
    return list(s.scalars(select(WebUser).order_by(WebUser.username)))


def remove_user(s: Session, username: str, actor: str | None = None) -> None:
    """Delete a user, their tokens and their sessions; audited.

    Example: ``remove_user(s, "alice")``
    """
    from ..db.models_web import ApiToken, WebSession
    user = get_user(s, username)
    for model in (ApiToken, WebSession):   # not left to ON DELETE CASCADE: SQLite may lack it
        s.query(model).filter(model.user_id == user.id).delete()
    s.delete(user)
    record_audit(s, "user-remove", None, {"user": username}, actor)


def authenticate(s: Session, username: str, password: str) -> WebUser | None:
    """The user if *password* is theirs, else None (as slow for an unknown name).

    Example: ``authenticate(s, "alice", "correct horse battery")``
    """
    user = find_user(s, username)
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None else None
