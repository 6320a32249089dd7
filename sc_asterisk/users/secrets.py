"""Password hashing (argon2id, memory-hard) and the random secrets of tokens and sessions.

API tokens and session ids are 32 random bytes: a SHA-256 digest is enough to store them
(nothing to brute-force), and it is cheap on every request; passwords chosen by people get
argon2id.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes). Tests swap in a
# cheaper hasher through set_hasher.
_hasher = PasswordHasher()
# Verified against when the user does not exist, so that a wrong name costs as long as a
# wrong password.
_DUMMY: list[str] = []


def set_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the password hasher (tests use cheap parameters); returns the previous one.
    Example: ``set_hasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))``"""
    global _hasher
    previous, _hasher = _hasher, hasher
    _DUMMY.clear()
    return previous


def hash_password(password: str) -> str:
    """An argon2id hash with its own salt and parameters. Example: ``hash_password("s3cret!")``"""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether *password* matches *stored* (None: no such user, a dummy hash is checked).

    Example: ``verify_password(user.password_hash, "s3cret!")``
    """
    if stored is None:
        if not _DUMMY:
            _DUMMY.append(_hasher.hash(secrets.token_hex(16)))
        stored = _DUMMY[0]
        password = password + "\0"          # never matches the dummy
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """32 random bytes, URL-safe. Example: ``len(new_secret()) == 43``"""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a token or session id. Example: ``len(digest("x")) == 64``"""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison. Example: ``same(row.digest, digest(presented))``"""
    return hmac.compare_digest(a.encode(), b.encode())
