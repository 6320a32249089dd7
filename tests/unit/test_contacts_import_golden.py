"""The import's output pinned: reject files byte for byte, contact and provenance rows, summaries.

The digests below were taken from the importer as it was before the speed work of issue 15
(commit 6ed760a), on generated files (bench/contacts.py's generator: the eight French spellings,
5 % invalid numbers), an overlapping second file with consent, slot and attribute columns,
erased numbers (a tombstone and an older HMAC-keyed one), a suppression that does not stop an
import, and re-imports. Any change in what an import writes or refuses changes a digest.
"""
import hashlib
import json
import os
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from bench.contacts import generate
from sc_asterisk.contacts import ImportOptions, SuppressionStore, import_contacts
from sc_asterisk.contacts.numbers import NumberRejected, to_e164
from sc_asterisk.db import Contact, Database
from sc_asterisk.db.models_privacy import ContactSource, ImportBatch, SuppressionEntry

KEY = "test-installation-key"
TODAY = date(2026, 6, 1)
# Columns that hold the time of the run, or who ran it, are left out of the digest.
_VOLATILE = {"created_at", "updated_at", "started_at", "finished_at", "imported_by"}

GOLDEN_REJECTS = {
    "a": "ed3ae726",
    "b": "1cabd679",
    "a-again": "ed3ae726",
    "b-again": "1cabd679",
}
GOLDEN_SUMMARIES = "673f34ea"
GOLDEN_TABLES = "5600621f"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """File a: 3,000 generated rows. File b: 1,200 of a's rows again (names swapped on some),
    in another order, with consent date, slot and note columns, and repeated lines."""
    root = tmp_path_factory.mktemp("golden")
    a = root / "a.csv"
    generate(a, 3000, seed=7)
    lines = a.read_bytes().decode("utf-8").split("\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    out = [header + ";Date de consentement;Créneau;Note"]
    for i, row in enumerate(reversed(rows[:1200])):
        cells = row.split(";")
        if i % 3 == 0:
            cells[0], cells[1] = cells[1], cells[0]
        consent = ["", "01/03/2024 10:00", "2023-11-05", "31/02/2024"][i % 4]
        slot = ["", "lun-ven 18h-20h", "samedi matin"][i % 3] if i % 5 else ""
        note = ["", "=1+1", "client fidèle", "-"][i % 4]
        out.append(";".join(cells + [consent, slot, note]))
        if i % 97 == 0:
            out.append(out[-1])
    b = root / "b.csv"
    b.write_bytes(("\n".join(out) + "\n").encode("utf-8"))
    return {"a": a, "b": b}


def to_e164_or_none(text: str) -> str | None:
    try:
        return to_e164(text)
    except NumberRejected:
        return None


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _tables(db: Database) -> str:
    with db.session() as s:
        dump = {}
        for model in (Contact, ContactSource, ImportBatch):
            columns = [c for c in model.__table__.columns if c.key not in _VOLATILE]
            dump[model.__tablename__] = [list(row) for row in s.execute(
                select(*columns).order_by(model.__table__.c.id))]
    return _digest(dump)


def _scenario(db: Database, files: dict, tmp_path: Path, workers: int, batch_size: int):
    """Run the four imports; returns (summaries, reject digests)."""
    with open(files["a"], encoding="utf-8") as f:
        numbers = [n for n in (to_e164_or_none(line.split(";")[2]) for line in f.readlines()[1:40])
                   if n]
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        store.tombstone(numbers[3], "erase:test")
        store.add(numbers[5], "opt-out", "test")  # a suppression does not stop an import
        # A tombstone from before the slow hash: keyed by the HMAC pseudonym.
        s.execute(insert(SuppressionEntry).values(
            number_hash=store.pseudonym(numbers[8]), reason="erased", source="erase:old"))
    steps = [("a", "a", dict(list_name="a", legal_basis="consent")),
             ("b", "b", dict(list_name="b", legal_basis="legitimate-interest")),
             ("a-again", "a", dict(list_name="a2", source="again")),
             ("b-again", "b", dict(list_name="b", legal_basis="legitimate-interest"))]
    summaries, rejects = [], {}
    for name, file, options in steps:
        out = tmp_path / f"{name}.rejects.csv"
        summary = import_contacts(db, files[file], KEY, ImportOptions(
            today=TODAY, workers=workers, batch_size=batch_size, rejects_path=out, **options))
        summaries.append((name, summary.rows, summary.created, summary.updated,
                          summary.unchanged, summary.duplicates, summary.blank_rows,
                          summary.reused_batch, sorted(summary.rejected.items())))
        rejects[name] = hashlib.sha256(out.read_bytes()).hexdigest()[:8]
    return summaries, rejects


@pytest.mark.parametrize("workers,batch_size", [(0, 20000), (0, 7), (2, 500)])
def test_import_output_is_pinned(tmp_path, files, workers, batch_size):
    db = Database(f"sqlite:///{tmp_path / 'golden.db'}")
    db.upgrade()
    summaries, rejects = _scenario(db, files, tmp_path, workers, batch_size)
    assert rejects == GOLDEN_REJECTS
    assert (_digest(summaries), _tables(db)) == (GOLDEN_SUMMARIES, GOLDEN_TABLES), summaries


def _rows(db: Database) -> dict:
    """Contact and provenance rows with times in UTC, comparable across backends."""
    def plain(value):
        if isinstance(value, datetime):
            return (value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo
                    else value).isoformat()
        return value
    with db.session() as s:
        return {model.__tablename__: [[plain(v) for v in row] for row in s.execute(
                    select(*[c for c in model.__table__.columns if c.key not in _VOLATILE])
                    .order_by(model.__table__.c.id))]
                for model in (Contact, ContactSource)}


@pytest.mark.postgres
def test_postgresql_imports_the_same_rows_and_rejects(tmp_path, files, pg_db, monkeypatch):
    """The COPY path on PostgreSQL: same rejects, summaries and rows (ids included) as SQLite."""
    import psycopg
    copies, real = [], psycopg.Cursor.copy

    def copy(self, statement, *args, **kw):
        copies.append(statement.split("(")[0].strip())
        return real(self, statement, *args, **kw)
    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    summaries, rejects = _scenario(pg_db, files, tmp_path, 2, 500)
    assert {"COPY contact", "COPY contact_source"} <= set(copies)
    assert rejects == GOLDEN_REJECTS
    assert _digest(summaries) == GOLDEN_SUMMARIES, summaries
    lite = Database(f"sqlite:///{tmp_path / 'lite.db'}")
    lite.upgrade()
    (tmp_path / "lite").mkdir()
    _scenario(lite, files, tmp_path / "lite", 0, 7)
    assert _rows(pg_db) == _rows(lite)


@pytest.fixture
def pg_db():
    """A throw-away database on the server named by SC_ASTERISK_TEST_PG."""
    url = os.environ.get("SC_ASTERISK_TEST_PG")
    if not url:
        pytest.skip("set SC_ASTERISK_TEST_PG to a scratch PostgreSQL database URL")
    name = f"sc_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    db = Database(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade()
        yield db
    finally:
        db.engine.dispose()
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
