"""The installation key: it keys the suppression store, the pseudonyms and the FastAGI token.

There is one key per installation. It is made only by ``sc-asterisk key init`` (run by
``db upgrade`` on an empty database) and never on first read: a command run by another user,
with another ``SC_ASTERISK_HOME``, would otherwise key suppressions with a key the controller
never uses, and the controller would see "not suppressed". The database keeps a check value,
HMAC(key, a fixed label); :func:`load_key` compares the key file with it and refuses a missing
or different key (fail closed). A database without a check value (one made before revision
0007) is refused too, until ``key init`` records the key that the installation uses.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .config import Settings
from .errors import ConfigError
from .files import atomic_write

KEY_FILE = "installation-key"
_CHECK_LABEL = b"sc-asterisk installation key check v1"


def key_path(settings: Settings) -> Path:
    """Where this home keeps the installation key. Example: ``key_path(Settings.load())``."""
    return settings.secrets_dir / KEY_FILE


def check_value(key: str | bytes) -> str:
    """HMAC(key, a fixed label): stored in the database, it tells a key from another without
    revealing it. Example: ``len(check_value("k" * 48)) == 64``"""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, _CHECK_LABEL, hashlib.sha256).hexdigest()


def read_key(settings: Settings) -> str:
    """The key file's content; never creates it. ConfigError naming the fix if it is missing.

    Example: ``derive_token(read_key(settings))``
    """
    path = key_path(settings)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if not key:
        raise ConfigError(f"no installation key at {path}",
                          fix=f"run `sc-asterisk key init` (or copy the installation's key to "
                              f"{path}, mode 0600)")
    return key


def load_key(settings: Settings, db) -> str:
    """The installation key, checked against *db*'s check value; fails closed with one line
    naming the fix. Every key-using command and the controller go through here.

    Example: ``SuppressionStore(s, load_key(ctx.settings, ctx.db()))``
    """
    with db.session() as s:
        if _existing(key_path(settings)) is None and (row := _row(s)) is not None:
            path = key_path(settings)
            raise ConfigError(f"no installation key at {path}",
                              fix=f"run with SC_ASTERISK_HOME={row.key_home}, the installation's "
                                  f"home, or copy its key to {path} (mode 0600)")
        key = read_key(settings)
        verify_key(s, key, settings)
    return key


def verify_key(session: Session, key: str, settings: Settings | None = None) -> None:
    """Refuse *key* unless the database's check value is its own (constant-time compare).

    Example: ``await worker.transaction(verify_key, controller.key)``
    """
    row = _row(session)
    which = f"the installation key {key_path(settings)}" if settings else "this key"
    if row is None:
        raise ConfigError("the database has no installation key check value",
                          fix="run `sc-asterisk key init` as the installation's user, with its "
                              "key file: it records the check value")
    if not hmac.compare_digest(row.key_check, check_value(key)):
        raise ConfigError(f"{which} does not match the database's",
                          fix=f"use the installation's key file (SC_ASTERISK_HOME={row.key_home})")


def key_init(settings: Settings, db) -> str:
    """Make the installation key if there is none, and record its check value; safe to run
    again (a matching key is left as it is). Returns what was done, for the operator.

    Refuses to make a key when the database already has a check value or holds keyed data
    (suppressions, audit entries): that data needs the installation's own key file.

    Example: ``key_init(Settings.load(), db)`` -> "created ..."
    """
    from .db.models_privacy import AuditEntry, Installation, SuppressionEntry
    path = key_path(settings)
    for _ in range(2):   # a concurrent `key init` may record its key first: then compare
        with db.session() as s:
            row = _row(s)
            key = _existing(path)
            if row is not None:
                if key is None:
                    raise ConfigError(f"the database already has an installation key and "
                                      f"{path} does not exist",
                                      fix=f"copy the installation's key to {path} (mode 0600) "
                                          f"from SC_ASTERISK_HOME={row.key_home}")
                verify_key(s, key, settings)
                return f"installation key {path} matches the database"
            made = key is None
            if made:
                keyed = s.scalar(select(exists().where(SuppressionEntry.id.isnot(None)))) or \
                    s.scalar(select(exists().where(AuditEntry.id.isnot(None))))
                if keyed:
                    raise ConfigError(f"no installation key at {path}, and the database holds "
                                      "suppressions keyed with one",
                                      fix=f"copy the installation's key to {path} (mode 0600), "
                                          "then run `sc-asterisk key init`")
                key = _create(path)
            s.add(Installation(id=1, key_check=check_value(key), key_home=str(settings.home)))
            try:
                s.flush()
            except IntegrityError:
                s.rollback()
                continue
        return (f"created installation key {path}" if made
                else f"recorded installation key {path} in the database")
    raise ConfigError("could not record the installation key", fix="run the command again")


def record_key(db, key: str, home: str) -> None:
    """Record *key*'s check value in a database that has none (a test's or a bench's database,
    whose key is not a file); a database that has one must match it.

    Example: ``record_key(db, "bench-installation-key", "bench")``
    """
    from .db.models_privacy import Installation
    try:
        with db.session() as s:
            if _row(s) is None:
                s.add(Installation(id=1, key_check=check_value(key), key_home=home))
                s.flush()
                return
    except IntegrityError:
        pass
    with db.session() as s:
        verify_key(s, key)


def has_check_value(db) -> bool:
    """Whether *db* has recorded an installation key. Example: ``has_check_value(db)``"""
    with db.session() as s:
        return _row(s) is not None


def _row(session: Session):
    from .db.models_privacy import Installation
    return session.get(Installation, 1)


def _existing(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_hex(32)
    try:
        atomic_write(path, key + "\n", 0o600, replace=False)
    except FileExistsError:
        return path.read_text().strip()   # another `key init` made it first: theirs wins
    return key
