"""Contact import: stream a file, validate each row, upsert in batches of one transaction each.

Rules that make it safe to run twice and on hostile files:

- a row is imported whole or rejected whole (reason code + line in the reject file);
- a file that cannot be read at all raises before anything is written;
- the same E.164 is the same contact: within one file the later row wins, across files the newer
  import wins (an older file re-imported later cannot overwrite newer data);
- the same bytes with the same options reuse their import batch, so a re-import changes nothing;
- numbers with an erasure tombstone are rejected with reason "erased".
"""
from __future__ import annotations

import gc
import hashlib
import json
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db import Contact, Database
from ..db.models_privacy import ContactSource, ImportBatch
from ..errors import ConfigError
from .audit import os_user
from .bulk import import_connection, insert_new, insert_rows, known_numbers, select_in, session_on
from .mapping import ColumnMap, Record, build_column_map, check_legal_basis
from .numbers import check_region
from .reader import Progress, TableFile, open_table
from .rejects import RejectWriter
from .suppression import ERASED, SuppressionStore
from .validate import Checked, Validator, auto_workers, cells_of, checked_chunks

# Contact columns an import row may overwrite when the file has a column for them.
_FIELDS = ("first_name", "last_name", "postcode", "commune", "commune_key", "birth_date",
           "legal_basis", "consent_at", "consent_slot", "address_asserted_at")
_ADDRESS = ("postcode", "commune_key")
_CONTACT_COLUMNS = ("id", "e164", *_FIELDS, "number_type", "time_zone", "list_name", "source",
                    "attributes", "import_batch_id", "updated_at")
_SOURCE_COLUMNS = ("id", "contact_id", "first_line", "last_line", "legal_basis", "consent_at",
                   "consent_slot")
# A new contact: a record's fields (absent columns are None there too), then the import's.
_NEW_CONTACT_COLUMNS = (*Record._fields, "list_name", "source", "import_batch_id", "updated_at",
                        "created_at")
_NEW_SOURCE_COLUMNS = ("contact_id", "batch_id", "first_line", "last_line", "legal_basis",
                       "consent_at", "consent_slot", "created_at")
_NEW_CONTACT_VALUES = itemgetter(*_NEW_CONTACT_COLUMNS)
# Shared by every new contact without attributes (never mutated: rows get new dicts), so its
# JSON is computed once per chunk.
_NO_ATTRIBUTES: dict = {}


@dataclass
class ImportOptions:
    """Options of one import; see ``sc-asterisk contacts import --help``."""

    list_name: str | None = None
    source: str | None = None
    legal_basis: str | None = None
    region: str = "FR"
    encoding: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    rejects_path: Path | None = None
    # Rows per transaction: fewer, larger commits write each page of the number index fewer
    # times (memory stays flat: a few chunks in flight).
    batch_size: int = 20000
    today: date | None = None
    workers: int | None = None  # validation processes; None = by file size
    # When the file's addresses were last confirmed, for rows with neither an address date
    # column nor a consent date (their address age is unknown otherwise).
    address_date: date | None = None
    # Who imports (the batch's ``imported_by``); None: the operating-system user.
    actor: str | None = None


@dataclass
class ImportSummary:
    """What one import did. ``rows == created + updated + unchanged + rejected total``."""

    batch_id: int
    file_name: str
    file_format: str
    encoding: str | None
    delimiter: str | None
    reused_batch: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    blank_rows: int = 0
    rejected: Counter = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def open_import(path: str | Path, options: ImportOptions) -> tuple[TableFile, ColumnMap]:
    """Check the file and options before any work: raises ScError if nothing could be imported.

    Example: ``table, columns = open_import("liste.csv", ImportOptions())``
    """
    options.region = check_region(options.region)
    if options.list_name is not None and not 0 < len(options.list_name) <= 100:
        raise ConfigError("a list name has 1 to 100 characters", fix="pass a shorter --list")
    if options.legal_basis:
        options.legal_basis = check_legal_basis(options.legal_basis)
    if options.address_date is not None and options.address_date > (options.today or date.today()):
        raise ConfigError(f"--address-date {options.address_date.isoformat()} is in the future",
                          fix="give the date the addresses were last confirmed, e.g. the file's")
    table = open_table(path, options.encoding)
    return table, build_column_map(table.header, options.mapping, table.path.name)


def import_contacts(db: Database, path: str | Path, key: str | bytes,
                    options: ImportOptions | None = None, progress: Progress | None = None,
                    opened: tuple[TableFile, ColumnMap] | None = None) -> ImportSummary:
    """Import a contact file; *key* is the installation key of the suppression store.

    Example::

        summary = import_contacts(db, "liste.csv", settings.secret("installation-key"),
                                  ImportOptions(list_name="quartier-nord", legal_basis="consent",
                                                rejects_path=Path("rejets.csv")))
    """
    options = options or ImportOptions()
    table, columns = opened or open_import(path, options)
    batch, reused = _batch_for(db, table, columns, options)
    summary = ImportSummary(batch.id, table.path.name, table.file_format, table.encoding,
                            table.delimiter, reused)
    run = _Run(batch, columns, key, options, summary)
    validator = Validator(columns, options.region, options.today or date.today(),
                          options.legal_basis, _midnight_utc(options.address_date))
    workers = auto_workers(table.total) if options.workers is None else options.workers
    with RejectWriter(options.rejects_path, table.header) as rejects, _fewer_collections(), \
            import_connection(db) as conn, closing(checked_chunks(
                table, validator, options.batch_size, workers, progress)) as chunks:
        for checked in chunks:  # closing: stops the validation workers on any error
            run.chunk(conn, checked, rejects)
    summary.blank_rows = table.blank_rows
    if not (reused and batch.status == "complete"):
        with db.session() as s:
            done = s.get(ImportBatch, batch.id)
            done.status, done.finished_at = "complete", datetime.now(timezone.utc)
            done.rows, done.created, done.updated = summary.rows, summary.created, summary.updated
            done.unchanged, done.rejected = summary.unchanged, summary.rejected_total
    return summary


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cycle collector less often: an import makes millions of small tuples and dicts
    that live for a chunk, and with the default thresholds the collector walked them again and
    again (a fifth of the CPU time, workers included: they are forked inside and inherit it)."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _batch_for(db: Database, table: TableFile, columns: ColumnMap,
               options: ImportOptions) -> tuple[ImportBatch, bool]:
    source = options.source or table.path.name
    mapping = columns.describe(table.header)
    parts = [table.sha256, options.list_name, source, options.legal_basis, options.region,
             table.encoding, mapping]
    if options.address_date is not None:  # absent: the fingerprints of earlier imports hold
        parts.append(options.address_date.isoformat())
    fingerprint = hashlib.sha256(json.dumps(
        parts, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
    with db.session() as s:
        batch = s.scalars(select(ImportBatch).where(ImportBatch.fingerprint == fingerprint)).first()
        if batch is not None:
            return batch, True
        batch = ImportBatch(fingerprint=fingerprint, file_name=table.path.name[:255],
                            file_sha256=table.sha256, file_format=table.file_format,
                            encoding=table.encoding, list_name=options.list_name, source=source,
                            legal_basis=options.legal_basis, region=options.region,
                            mapping=mapping, imported_by=options.actor or os_user())
        s.add(batch)
    return batch, False


class _Run:
    """The state of one import across its chunks."""

    def __init__(self, batch: ImportBatch, columns: ColumnMap, key: str | bytes,
                 options: ImportOptions, summary: ImportSummary):
        self.batch, self.columns, self.key = batch, columns, key
        self.options, self.summary = options, summary
        # Plain copies: the ORM attributes cost a lookup each, several times per row.
        self.batch_id, self.list_name, self.source = batch.id, batch.list_name, batch.source
        # Newest wins for what the file speaks about; fields it has no column for are kept.
        present = set(columns.fields) & set(_FIELDS)
        if "commune" in present:
            present.add("commune_key")
        if present & {"postcode", "commune"}:  # the file speaks of addresses, so of their age
            present.add("address_asserted_at")
        else:
            present.discard("address_asserted_at")
        if options.legal_basis:
            present.add("legal_basis")
        self.present = sorted(present)
        self.attr_keys = {key for _, key in columns.attributes}

    def chunk(self, conn: Connection, checked: Checked, rejects: RejectWriter) -> None:
        """Write one validated chunk in one transaction, then its rejects in line order."""
        self.summary.rows += checked.rows
        records, refused = checked.valid, checked.refused
        with session_on(conn) as s:
            numbers = list(dict.fromkeys(rec.e164 for _, rec, _ in records))
            known = known_numbers(s, numbers)
            # tombstones' slow hash: only for numbers that are not contacts yet
            erased = SuppressionStore(s, self.key).erased_for_import(numbers, set(known))
            if erased:
                refused = refused + [(line, ERASED, "", cells_of(raw))
                                     for line, rec, raw in records if rec.e164 in erased]
                records = [item for item in records if item[1].e164 not in erased]
                known = [n for n in known if n not in erased]
            self._upsert(s, records, known)
        for line, reason, detail, cells in sorted(refused, key=itemgetter(0)):
            self.summary.rejected[reason] += 1
            rejects.write(line, reason, detail, cells)

    def _upsert(self, s: Session, records: list[tuple[int, Record, str]],
                numbers: list[str]) -> None:
        """Write *records*; *numbers* are those of their numbers that are contacts already."""
        # Plain rows and bulk statements: ORM objects cost more than parsing at a million rows.
        contacts = {row["e164"]: dict(row) for row in select_in(
            s, select(*(Contact.__table__.c[c] for c in _CONTACT_COLUMNS)), Contact.e164, numbers)}
        sources = {row["contact_id"]: dict(row) for row in select_in(
            s, select(*(ContactSource.__table__.c[c] for c in _SOURCE_COLUMNS))
            .where(ContactSource.batch_id == self.batch_id),
            ContactSource.contact_id, [c["id"] for c in contacts.values()])}
        now = datetime.now(timezone.utc)
        tail = (self.list_name, self.source, self.batch_id, now, now)  # _NEW_CONTACT_COLUMNS
        # Numbers nobody had, in line order: the record, or the row made of it once a later
        # line of this chunk is merged in (most never get a row dict: a million of them cost).
        new: dict[str, Record | dict] = {}
        lines: dict[str, list[int]] = {}  # e164 -> [first line, last line] in this chunk
        winners: dict[str, Record] = {}
        for line, rec, _ in records:
            e164 = rec.e164
            contact = contacts.get(e164)
            if contact is None:
                first = new.get(e164)
                if first is None:  # the first time anyone sees this number: nothing to compare
                    new[e164] = winners[e164] = rec
                    self.summary.created += 1
                    lines[e164] = [line, line]
                    continue
                if not isinstance(first, dict):
                    first = new[e164] = dict(zip(_NEW_CONTACT_COLUMNS, _new_row(first, tail)))
                contact = first
            src = sources.get(contact.get("id"))
            if e164 in lines or (src is not None and src["first_line"] < line):
                self.summary.duplicates += 1
            if self._may_write(contact, src, line):
                winners[e164] = rec
                if self._apply(contact, rec, now):
                    self.summary.updated += 1
                else:
                    self.summary.unchanged += 1
            else:
                self.summary.unchanged += 1
            lines.setdefault(e164, [line, line])[1] = line
        ids = {e164: contact["id"] for e164, contact in contacts.items()}
        if new:
            rows = [_new_row(v, tail) if not isinstance(v, dict) else _NEW_CONTACT_VALUES(v)
                    for v in new.values()]  # a new row is written whole, "dirty" or not
            ids.update(zip(new, insert_new(s, Contact.__table__, _NEW_CONTACT_COLUMNS, rows)))
        dirty = [c for c in contacts.values() if c.pop("dirty", False)]
        if dirty:
            s.execute(update(Contact), dirty)
        self._provenance(s, ids, sources, lines, winners, now)

    def _provenance(self, s: Session, ids: dict, sources: dict, lines: dict, winners: dict,
                    now: datetime) -> None:
        fresh, changed = [], []
        for e164, (first, last) in lines.items():
            contact_id = ids[e164]
            src = sources.get(contact_id)
            rec = winners.get(e164)
            if src is None:  # rows in _NEW_SOURCE_COLUMNS order
                if rec is not None:
                    consent = (rec.legal_basis, rec.consent_at, rec.consent_slot)
                else:
                    consent = (None, None, None)
                fresh.append((contact_id, self.batch_id, first, last, *consent, now))
                continue
            consent = {k: getattr(rec, k) if rec else src[k]
                       for k in ("legal_basis", "consent_at", "consent_slot")}
            values = {"last_line": max(last, src["last_line"]), **consent}
            if not all(_same(src[k], v) for k, v in values.items()):
                changed.append({"id": src["id"], **values})
        if fresh:
            insert_rows(s, ContactSource.__table__, _NEW_SOURCE_COLUMNS, fresh)
        if changed:
            s.execute(update(ContactSource), changed)

    def _may_write(self, contact: dict, src: dict | None, line: int) -> bool:
        """Newest wins: a newer batch, or a later line of this batch."""
        last = contact["import_batch_id"]
        if last is None or last < self.batch_id:
            return True
        return last == self.batch_id and (src is None or line >= src["last_line"])

    def _apply(self, contact: dict, rec: Record, now: datetime) -> bool:
        """Merge *rec* into the *contact* row; True when a personal attribute changed. Any
        change, bookkeeping included, marks the row "dirty" (to be written)."""
        values = {name: getattr(rec, name) for name in self.present}
        values.update(number_type=rec.number_type, time_zone=rec.time_zone,
                      list_name=self.list_name or contact["list_name"],
                      source=self.source)
        if "address_asserted_at" in values and _older_claim(contact, values):
            values["address_asserted_at"] = contact["address_asserted_at"]
        kept = {k: v for k, v in (contact["attributes"] or {}).items() if k not in self.attr_keys}
        values["attributes"] = {**kept, **rec.attributes}
        changed = {k: v for k, v in values.items() if not _same(contact[k], v)}
        contact.update(changed)
        if changed:
            contact["updated_at"] = now
        if changed or contact["import_batch_id"] != self.batch_id:
            contact["import_batch_id"] = self.batch_id
            contact["dirty"] = True
        return bool(changed)


def _older_claim(contact: dict, values: dict) -> bool:
    """Whether *values* repeat the contact's address with an older (or no) confirmation date:
    the address stays as fresh as its newest confirmation."""
    held, new = contact["address_asserted_at"], values["address_asserted_at"]
    if held is None or any(k in values and not _same(contact[k], values[k]) for k in _ADDRESS):
        return False
    return new is None or _utc(held) > _utc(new)


def _midnight_utc(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _new_row(rec: Record, tail: tuple) -> tuple:
    """The _NEW_CONTACT_COLUMNS of a contact seen for the first time (what ``_Run._apply``
    makes of an empty row, without comparing each field to nothing)."""
    return (*rec[:-1], dict(rec.attributes) if rec.attributes else _NO_ATTRIBUTES, *tail)


def _same(a, b) -> bool:
    if a == b:
        return True
    # SQLite hands back naive UTC datetimes; PostgreSQL aware ones.
    return isinstance(a, datetime) and isinstance(b, datetime) and _utc(a) == _utc(b)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
