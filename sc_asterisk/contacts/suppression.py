"""The project-wide suppression store: numbers that must never be called.

Entries are keyed by HMAC-SHA256(installation key, E.164), so a number is not kept in clear.
Erasure tombstones (reason "erased") are keyed by a slow keyed hash instead (tombstones.py), so
that enumerating a numbering plan against them is costly even with the key. The dialer checks
the store when attempts are queued and again immediately before every originate.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..db.models_privacy import SuppressionEntry
from .mapping import build_column_map
from .numbers import NumberRejected, to_e164
from .reader import open_table
from .tombstones import TombstoneHasher, is_erased_token

ERASED = "erased"
_IN_CHUNK = 500  # bound parameter lists well under every backend's limit
_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SuppressionCheck:
    """Result of checking one typed number."""

    e164: str
    entry: SuppressionEntry | None

    @property
    def reason(self) -> str | None:
        return self.entry.reason if self.entry else None


@dataclass
class SuppressImportSummary:
    """What ``import_file`` did."""

    added: int = 0
    already: int = 0
    rejected: Counter = field(default_factory=Counter)


_REASONS = select(SuppressionEntry.__table__.c.reason).where(
    SuppressionEntry.__table__.c.number_hash.in_([bindparam("h1"), bindparam("h2")]))


class SuppressionStore:
    """Suppression entries seen through one session (one transaction). Example::

        with db.session() as s:
            store = SuppressionStore(s, settings.secret("installation-key"))
            store.add("+33612345678", "objection by letter", "cli:alice")
            assert store.is_suppressed("+33612345678") == "objection by letter"
    """

    def __init__(self, session: Session, key: str | bytes):
        if not key:
            raise ConfigError("empty installation key", fix="check SC_ASTERISK_HOME/secrets")
        self.session = session
        self._key = key.encode() if isinstance(key, str) else key
        self._slow = TombstoneHasher(self._key)

    def pseudonym(self, e164: str) -> str:
        """The keyed hash that stands for *e164* everywhere a clear number must not be kept.

        Example: ``len(store.pseudonym("+33612345678")) == 64``
        """
        return hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()

    def tombstone_hash(self, e164: str) -> str:
        """The slow keyed hash that keys *e164*'s erasure tombstone (tombstones.py)."""
        return self._slow(e164)

    def entry(self, e164: str) -> SuppressionEntry | None:
        """The entry for an E.164 number (a suppression or its erasure tombstone), or None."""
        entries = self.session.scalars(select(SuppressionEntry).where(
            SuppressionEntry.number_hash.in_(self._hashes(e164)))).all()
        # a tombstone wins over an HMAC-keyed entry of the same number
        return max(entries, key=lambda e: e.reason == ERASED, default=None)

    def _hashes(self, e164: str) -> tuple[str, str]:
        """The keys an entry for *e164* may have: its HMAC pseudonym, its tombstone hash."""
        e164 = _require_e164(e164)
        return self.pseudonym(e164), self._slow(e164)

    def add(self, e164: str, reason: str, source: str) -> SuppressionEntry:
        """Suppress *e164* (idempotent: an existing entry is kept as it is).

        Example: ``store.add("+33612345678", "opt-out", "dtmf:campaign=municipales")``
        """
        reason = (reason or "").strip()
        if not reason:
            raise ConfigError("a suppression needs a reason", fix="pass --reason TEXT")
        if reason == ERASED:
            raise ConfigError("reason 'erased' is reserved for erasure tombstones",
                              fix="use sc-asterisk erase NUMBER")
        existing = self.entry(e164)
        if existing is not None:
            return existing
        entry = SuppressionEntry(number_hash=self.pseudonym(e164), reason=reason[:200],
                                 source=source[:255])
        self.session.add(entry)
        self.session.flush()
        return entry

    def add_typed(self, raw: str, reason: str, source: str, region: str = "FR"
                  ) -> tuple[SuppressionCheck, SuppressionEntry]:
        """Normalise a typed number (NumberRejected if it is not one) and suppress it; returns
        what was there before (``check.entry`` None: newly suppressed) and the entry now.

        Example: ``before, entry = store.add_typed("06 12 34 56 78", "objection", "cli:alice")``
        """
        e164 = to_e164(raw, region)
        before = SuppressionCheck(e164, self.entry(e164))
        return before, self.add(e164, reason, source)

    def tombstone(self, e164: str, source: str) -> SuppressionEntry:
        """Mark *e164* as erased; an earlier suppression becomes the tombstone.

        Example: ``store.tombstone("+33612345678", "erase:alice")``
        """
        slow = self._slow(_require_e164(e164))
        entry = self.entry(e164)
        if entry is None:
            entry = SuppressionEntry(number_hash=slow, reason=ERASED, source=source[:255])
            self.session.add(entry)
        else:
            # rekeyed: no row keeps HMAC(key, number) once the person is erased
            entry.number_hash, entry.reason, entry.source = slow, ERASED, source[:255]
        self.session.flush()
        return entry

    def is_suppressed(self, number: str) -> str | None:
        """The suppression reason for *number*, or None if it may be called.

        *number* is an E.164 number, an erasure token or (erased before tokens) a pseudonym:
        an erased attempt's number. Anything that does not normalise is reported as
        "invalid-number": when in doubt, do not call.

        Example: ``store.is_suppressed(attempt.number) is None``
        """
        if is_erased_token(number):
            return ERASED
        if _PSEUDONYM.match(number or ""):
            entry = self._by_hash(number)
            return entry.reason if entry else "invalid-number"
        try:
            e164 = to_e164(number)
        except NumberRejected:
            return "invalid-number"
        # The reasons alone, by a statement built once: the dialer asks before every call.
        pseudonym, slow = self._hashes(e164)
        reasons = self.session.execute(_REASONS, {"h1": pseudonym, "h2": slow}).scalars().all()
        return ERASED if ERASED in reasons else (reasons[0] if reasons else None)

    def reasons_among(self, numbers: Iterable[str]) -> dict[str, str]:
        """{e164: reason} for the HMAC-keyed entries among many E.164 numbers (one query per
        500): suppressions, and tombstones written before they had their slow hash. Numbers
        that may be new to the base also need :meth:`erased_among`.

        Example: ``store.reasons_among(["+33612345678", "+33712345678"])``
        """
        by_hash = {self.pseudonym(n): n for n in numbers}
        hashes = list(by_hash)
        found: dict[str, str] = {}
        for i in range(0, len(hashes), _IN_CHUNK):
            rows = self.session.execute(
                select(SuppressionEntry.number_hash, SuppressionEntry.reason)
                .where(SuppressionEntry.number_hash.in_(hashes[i:i + _IN_CHUNK])))
            found.update({by_hash[h]: reason for h, reason in rows})
        return found

    def erased_among(self, numbers: Iterable[str]) -> set[str]:
        """The numbers among *numbers* that have an erasure tombstone. Costly (one slow hash a
        number, on a few threads), so free when there is no tombstone at all; callers pass only
        numbers that are not contacts yet (an erased person's contact is gone).

        Example: ``store.erased_among(new_numbers)``
        """
        numbers = list(dict.fromkeys(numbers))
        if not numbers or not self._any_tombstone():
            return set()
        by_hash = self._slow.many(numbers)
        hashes = list(by_hash)
        found: set[str] = set()
        for i in range(0, len(hashes), _IN_CHUNK):
            found.update(by_hash[h] for h in self.session.scalars(
                select(SuppressionEntry.number_hash)
                .where(SuppressionEntry.number_hash.in_(hashes[i:i + _IN_CHUNK]),
                       SuppressionEntry.reason == ERASED)))
        return found

    def erased_for_import(self, numbers: list[str], contacts: set[str]) -> set[str]:
        """The numbers among *numbers* an import must refuse as erased: those with an HMAC-keyed
        tombstone (written before tombstones had their slow hash) and, among those not in
        *contacts* (the numbers that are contacts already), those with a tombstone. One cheap
        query when there is no tombstone at all (no HMAC of every number then).

        Example: ``store.erased_for_import(["+33612345678"], set())``
        """
        if not numbers or not self._any_tombstone():
            return set()
        erased = {n for n, reason in self.reasons_among(numbers).items() if reason == ERASED}
        return erased | self.erased_among(n for n in numbers if n not in contacts)

    def _any_tombstone(self) -> bool:
        return self.session.scalar(
            select(SuppressionEntry.id).where(SuppressionEntry.reason == ERASED).limit(1)
        ) is not None

    def check(self, raw: str, region: str = "FR") -> SuppressionCheck:
        """Normalise a typed number (as the importer does) and look it up; NumberRejected if the
        text is not a valid number.

        Example: ``store.check("06 12 34 56 78").reason``
        """
        e164 = to_e164(raw, region)
        return SuppressionCheck(e164, self.entry(e164))

    def import_file(self, path: str | Path, reason: str = "do-not-call",
                    source: str | None = None, region: str = "FR",
                    encoding: str | None = None) -> SuppressImportSummary:
        """Suppress every number of a do-not-call file: CSV/XLSX with a phone column, or a bare
        list of numbers, one per line. Invalid lines are counted, never fatal.

        Example: ``store.import_file("opposition.csv", source="file:opposition.csv")``
        """
        if reason == ERASED:
            raise ConfigError("reason 'erased' is reserved for erasure tombstones",
                              fix="use sc-asterisk erase NUMBER")
        table = open_table(path, encoding)
        column = _headerless_column(table.header, region)
        if column is None:
            column = build_column_map(table.header, None, table.path.name).fields["phone"][0]
        else:
            table.header_line = 0  # no header: the first row is a number too
        source = (source or f"file:{table.path.name}")[:255]
        summary, chunk = SuppressImportSummary(), []
        for row in table.rows():
            raw = row.cells[column] if row.cells and column < len(row.cells) else ""
            try:
                chunk.append(to_e164(raw, region))
            except NumberRejected as exc:
                summary.rejected[exc.reason] += 1
            if len(chunk) >= 5000:
                self._insert_new(chunk, reason, source, summary)
                chunk = []
        self._insert_new(chunk, reason, source, summary)
        return summary

    def _insert_new(self, numbers: list[str], reason: str, source: str,
                    summary: SuppressImportSummary) -> None:
        unique = list(dict.fromkeys(numbers))
        summary.already += len(numbers) - len(unique)
        known = set(self.reasons_among(unique))
        known |= self.erased_among(n for n in unique if n not in known)
        summary.already += len(known)
        rows = [{"number_hash": self.pseudonym(n), "reason": reason, "source": source}
                for n in unique if n not in known]
        if rows:
            self.session.execute(insert(SuppressionEntry), rows)
        summary.added += len(rows)

    def _by_hash(self, number_hash: str) -> SuppressionEntry | None:
        return self.session.scalars(select(SuppressionEntry)
                                    .where(SuppressionEntry.number_hash == number_hash)).first()


def dial_check(key: str | bytes) -> Callable[[Session, object], str | None]:
    """The dialer's last check before an originate: a reason not to dial the attempt
    ("suppressed", "erased" or "invalid-number"), or None.

    Example: ``Scheduler(..., dial_check=dial_check(settings.secret("installation-key")))``
    """
    def check(session: Session, attempt) -> str | None:
        reason = SuppressionStore(session, key).is_suppressed(attempt.number)
        if reason is None or reason in (ERASED, "invalid-number"):
            return reason
        return "suppressed"
    return check


def _require_e164(e164: str) -> str:
    if not isinstance(e164, str) or not e164.startswith("+") or not e164[1:].isdigit():
        raise ConfigError("expected an E.164 number such as +33612345678",
                          fix="normalise it with sc_asterisk.contacts.numbers.to_e164")
    return e164


def _headerless_column(first_row: list[str], region: str) -> int | None:
    for index, cell in enumerate(first_row):
        try:
            to_e164(cell, region)
            return index
        except NumberRejected:
            continue
    return None
