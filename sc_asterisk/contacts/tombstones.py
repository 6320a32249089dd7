"""Erasure tombstones and tokens: what is left of an erased person, made costly to link back.

A tombstone keeps an erased number from being imported or dialed again. It is keyed by a slow
keyed hash, scrypt(E.164, salt = HMAC(installation key, label)), not by the HMAC pseudonym:
with the key on the same host, enumerating a numbering plan through HMAC takes minutes; through
this hash every candidate costs about 70 us instead of 2 us (one core; figures in SECURITY.md).
The same cost falls on an import, but only for numbers that are not contacts yet, only once a
tombstone exists, and on several threads (hashlib's scrypt releases the GIL).

An erased person's call attempts keep a random token (``erased:`` + 32 hex digits), one per
erasure, linked to nothing: the statistics survive, the number cannot be recovered.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

ERASED_TOKEN_PREFIX = "erased:"
# scrypt cost: N = 2^5, r = 8 (32 KiB per hash), about 70 us. A lookup that any candidate must
# pay is symmetric: an import of R new numbers pays R of them, an enumeration of N candidates
# N of them. This keeps a 100k-row import of new numbers within seconds once tombstones exist
# (2.9 s -> 9.1 s measured) while enumerating the 2e8 French mobile numbers takes ~4 h a core
# instead of ~6 min through HMAC. A bucket prefix beside the hash was rejected: it would cut
# the import's cost by leaking bits of each tombstone, making one tombstone cheaper to reverse
# by the same factor (see SECURITY.md).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 5, 8, 1
_SALT_LABEL = b"sc-asterisk erasure tombstone v1"
_THREADS = max(1, min(4, os.cpu_count() or 1))


def erased_token() -> str:
    """A fresh random stand-in for an erased person's number. Example: ``erased_token()``"""
    return ERASED_TOKEN_PREFIX + secrets.token_hex(16)


def is_erased_token(number: str | None) -> bool:
    """Whether an attempt's number is an erasure token. Example: ``is_erased_token(a.number)``"""
    return bool(number) and number.startswith(ERASED_TOKEN_PREFIX)


class TombstoneHasher:
    """The slow keyed hash of an E.164 number, in hex (64 digits). Example::

        TombstoneHasher(key)("+33612345678")
    """

    def __init__(self, key: bytes):
        self._salt = hmac.new(key, _SALT_LABEL, hashlib.sha256).digest()

    def __call__(self, e164: str) -> str:
        return hashlib.scrypt(e164.encode(), salt=self._salt, n=SCRYPT_N, r=SCRYPT_R,
                              p=SCRYPT_P, dklen=32).hex()

    def many(self, numbers: Iterable[str]) -> dict[str, str]:
        """{hash: number} for many numbers, on a few threads."""
        numbers = list(numbers)
        if len(numbers) < 64 or _THREADS == 1:
            return {self(n): n for n in numbers}
        with ThreadPoolExecutor(_THREADS) as pool:
            return dict(zip(pool.map(self, numbers, chunksize=256), numbers))
