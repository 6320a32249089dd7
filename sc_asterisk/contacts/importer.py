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

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import chain
from operator import itemgetter
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import Contact, Database
from ..db.models_privacy import ContactSource, ImportBatch
from ..errors import ConfigError
from .audit import os_user
from .mapping import ColumnMap, Record, build_column_map, check_legal_basis
from .numbers import check_region
from .reader import Progress, TableFile, open_table
from .rejects import RejectWriter
from .suppression import ERASED, SuppressionStore
from .validate import Checked, Validator, auto_workers, checked_chunks

_IN_CHUNK = 500
# Contact columns an import row may overwrite when the file has a column for them.
_FIELDS = ("first_name", "last_name", "postcode", "commune", "commune_key", "birth_date",
           "legal_basis", "consent_at", "consent_slot")
_CONTACT_COLUMNS = ("id", "e164", *_FIELDS, "number_type", "time_zone", "list_name", "source",
                    "attributes", "import_batch_id", "updated_at")
_SOURCE_COLUMNS = ("id", "contact_id", "first_line", "last_line", "legal_basis", "consent_at",
                   "consent_slot")
_NEW_CONTACT_COLUMNS = (*_CONTACT_COLUMNS[1:], "created_at")
_NEW_SOURCE_COLUMNS = ("contact_id", "batch_id", "first_line", "last_line", "legal_basis",
                       "consent_at", "consent_slot", "created_at")
# Shared by every new contact without attributes (never mutated: rows get new dicts), so its
# JSON is computed once per chunk.
_NO_ATTRIBUTES: dict = {}
# Rows per multi-row INSERT ... RETURNING: within SQLite's and PostgreSQL's parameter limits.
_VALUES_ROWS = 500


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
    batch_size: int = 5000
    today: date | None = None
    workers: int | None = None  # validation processes; None = by file size


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
                          options.legal_basis)
    workers = auto_workers(table.total) if options.workers is None else options.workers
    with RejectWriter(options.rejects_path, table.header) as rejects:
        for checked in checked_chunks(table.rows(progress), validator, options.batch_size,
                                      workers):
            run.chunk(db, checked, rejects)
    summary.blank_rows = table.blank_rows
    if not (reused and batch.status == "complete"):
        with db.session() as s:
            done = s.get(ImportBatch, batch.id)
            done.status, done.finished_at = "complete", datetime.now(timezone.utc)
            done.rows, done.created, done.updated = summary.rows, summary.created, summary.updated
            done.unchanged, done.rejected = summary.unchanged, summary.rejected_total
    return summary


def _batch_for(db: Database, table: TableFile, columns: ColumnMap,
               options: ImportOptions) -> tuple[ImportBatch, bool]:
    source = options.source or table.path.name
    mapping = columns.describe(table.header)
    fingerprint = hashlib.sha256(json.dumps(
        [table.sha256, options.list_name, source, options.legal_basis, options.region,
         table.encoding, mapping], sort_keys=True, ensure_ascii=True).encode()).hexdigest()
    with db.session() as s:
        batch = s.scalars(select(ImportBatch).where(ImportBatch.fingerprint == fingerprint)).first()
        if batch is not None:
            return batch, True
        batch = ImportBatch(fingerprint=fingerprint, file_name=table.path.name[:255],
                            file_sha256=table.sha256, file_format=table.file_format,
                            encoding=table.encoding, list_name=options.list_name, source=source,
                            legal_basis=options.legal_basis, region=options.region,
                            mapping=mapping, imported_by=os_user())
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
        if options.legal_basis:
            present.add("legal_basis")
        self.present = sorted(present)
        self.attr_keys = {key for _, key in columns.attributes}

    def chunk(self, db: Database, checked: Checked, rejects: RejectWriter) -> None:
        """Write one validated chunk in one transaction, then its rejects in line order."""
        rows = checked.rows
        self.summary.rows += len(rows)
        refused = list(checked.refused)
        with db.session() as s:
            store = SuppressionStore(s, self.key)
            suppressed = store.reasons_among({rec.phone.e164 for _, rec in checked.valid})
            erased = {n for n, reason in suppressed.items() if reason == ERASED}
            refused += [(i, ERASED, "") for i, rec in checked.valid if rec.phone.e164 in erased]
            self._upsert(s, [(rows[i].line, rec) for i, rec in checked.valid
                             if rec.phone.e164 not in erased])
        for i, reason, detail in sorted(refused):
            self.summary.rejected[reason] += 1
            rejects.write(rows[i].line, reason, detail, rows[i].cells)

    def _upsert(self, s: Session, records: list[tuple[int, Record]]) -> None:
        # Plain rows and bulk statements: ORM objects cost more than parsing at a million rows.
        numbers = _known(s, list(dict.fromkeys(rec.phone.e164 for _, rec in records)))
        contacts = {row["e164"]: dict(row) for row in _in_chunks(
            s, select(*(Contact.__table__.c[c] for c in _CONTACT_COLUMNS)), Contact.e164, numbers)}
        sources = {row["contact_id"]: dict(row) for row in _in_chunks(
            s, select(*(ContactSource.__table__.c[c] for c in _SOURCE_COLUMNS))
            .where(ContactSource.batch_id == self.batch_id),
            ContactSource.contact_id, [c["id"] for c in contacts.values()])}
        now = datetime.now(timezone.utc)
        lines: dict[str, list[int]] = {}  # e164 -> [first line, last line] in this chunk
        winners: dict[str, Record] = {}
        for line, rec in records:
            e164 = rec.phone.e164
            contact = contacts.get(e164)
            src = sources.get(contact.get("id")) if contact is not None else None
            if e164 in lines or (src is not None and src["first_line"] < line):
                self.summary.duplicates += 1
            if contact is None:
                contacts[e164] = self._new_contact(e164, rec, now)
                self.summary.created += 1
                winners[e164] = rec
            elif self._may_write(contact, src, line):
                winners[e164] = rec
                if self._apply(contact, rec, now):
                    self.summary.updated += 1
                else:
                    self.summary.unchanged += 1
            else:
                self.summary.unchanged += 1
            lines.setdefault(e164, [line, line])[1] = line
        fresh = [c for c in contacts.values() if "id" not in c]
        for c in fresh:
            c.pop("dirty", None)  # a new row is written whole
        if fresh:
            for contact_id, e164 in _insert(s, Contact.__table__, _NEW_CONTACT_COLUMNS, fresh,
                                            returning=("id", "e164")):
                contacts[e164]["id"] = contact_id
        dirty = [c for c in contacts.values() if c.pop("dirty", False)]
        if dirty:
            s.execute(update(Contact), dirty)
        self._provenance(s, contacts, sources, lines, winners, now)

    def _provenance(self, s: Session, contacts: dict, sources: dict, lines: dict, winners: dict,
                    now: datetime) -> None:
        fresh, changed = [], []
        for e164, (first, last) in lines.items():
            contact_id = contacts[e164]["id"]
            src = sources.get(contact_id)
            rec = winners.get(e164)
            consent = {k: getattr(rec, k) if rec else (src[k] if src else None)
                       for k in ("legal_basis", "consent_at", "consent_slot")}
            if src is None:
                fresh.append({"contact_id": contact_id, "batch_id": self.batch_id,
                              "first_line": first, "last_line": last, "created_at": now,
                              **consent})
                continue
            values = {"last_line": max(last, src["last_line"]), **consent}
            if not all(_same(src[k], v) for k, v in values.items()):
                changed.append({"id": src["id"], **values})
        if fresh:
            _insert(s, ContactSource.__table__, _NEW_SOURCE_COLUMNS, fresh)
        if changed:
            s.execute(update(ContactSource), changed)

    def _may_write(self, contact: dict, src: dict | None, line: int) -> bool:
        """Newest wins: a newer batch, or a later line of this batch."""
        last = contact["import_batch_id"]
        if last is None or last < self.batch_id:
            return True
        return last == self.batch_id and (src is None or line >= src["last_line"])

    def _new_contact(self, e164: str, rec: Record, now: datetime) -> dict:
        """The row of a contact seen for the first time (what ``_apply`` makes of an empty row,
        without comparing each field to nothing)."""
        contact = dict.fromkeys(_CONTACT_COLUMNS[1:])
        for name in self.present:
            contact[name] = getattr(rec, name)
        contact.update(e164=e164, number_type=rec.phone.number_type,
                       time_zone=rec.phone.time_zone, list_name=self.list_name,
                       source=self.source, import_batch_id=self.batch_id,
                       attributes=dict(rec.attributes) if rec.attributes else _NO_ATTRIBUTES,
                       created_at=now, updated_at=now)
        return contact

    def _apply(self, contact: dict, rec: Record, now: datetime) -> bool:
        """Merge *rec* into the *contact* row; True when a personal attribute changed. Any
        change, bookkeeping included, marks the row "dirty" (to be written)."""
        values = {name: getattr(rec, name) for name in self.present}
        values.update(number_type=rec.phone.number_type, time_zone=rec.phone.time_zone,
                      list_name=self.list_name or contact["list_name"],
                      source=self.source)
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


def _same(a, b) -> bool:
    if a == b:
        return True
    # SQLite hands back naive UTC datetimes; PostgreSQL aware ones.
    return isinstance(a, datetime) and isinstance(b, datetime) and _utc(a) == _utc(b)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _in_chunks(s: Session, query, column, values: list) -> list:
    found = []
    for i in range(0, len(values), _IN_CHUNK):
        found.extend(s.execute(query.where(column.in_(values[i:i + _IN_CHUNK]))).mappings())
    return found


def _known(s: Session, numbers: list[str]) -> list[str]:
    """The numbers among *numbers* that already have a contact, probed through the driver:
    a first import finds none, and then skips SQLAlchemy's typed lookup of full rows."""
    cursor = s.connection().connection.dbapi_connection.cursor()
    mark = "?" if s.get_bind().dialect.paramstyle == "qmark" else "%s"
    found: list[str] = []
    try:
        for i in range(0, len(numbers), _IN_CHUNK):
            part = numbers[i:i + _IN_CHUNK]
            marks = ", ".join([mark] * len(part))
            cursor.execute(f"SELECT e164 FROM contact WHERE e164 IN ({marks})", part)
            found.extend(e164 for (e164,) in cursor.fetchall())
    finally:
        cursor.close()
    return found


def _insert(s: Session, table, names: tuple[str, ...], rows: list[dict],
            returning: tuple[str, ...] = ()) -> list[tuple]:
    """INSERT *rows* (dicts holding every one of *names*) through the driver, and return the
    *returning* columns of the new rows (in no particular order).

    At a million rows SQLAlchemy's per-row parameter handling cost more than the database's
    own work: here each value goes through its column type's bind processor (dates, JSON) and
    nothing else, and a value shared by every row (the import time) is processed once.
    """
    conn = s.connection()
    dialect = conn.dialect
    convert = []
    for i, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            convert.append((i, process, [None, None]))  # [last value, its processed form]
    params = []
    get = itemgetter(*names)
    for row in rows:
        values = list(get(row))
        for i, process, last in convert:
            value = values[i]
            if value is None:
                continue
            if value is not last[0]:
                last[0], last[1] = value, process(value)
            values[i] = last[1]
        params.append(values)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    one = f"({', '.join([mark] * len(names))})"
    # The DBAPI cursor of the session's connection (same transaction): SQLAlchemy would wrap
    # each returned row in a Row object.
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if not returning:
            cursor.executemany(head + one, params)
            return []
        tail = f" RETURNING {', '.join(returning)}"
        found: list[tuple] = []
        for start in range(0, len(params), _VALUES_ROWS):
            part = params[start:start + _VALUES_ROWS]
            cursor.execute(head + ", ".join([one] * len(part)) + tail,
                           tuple(chain.from_iterable(part)))
            found.extend(cursor.fetchall())
        return found
    finally:
        cursor.close()
