"""Hostile contact files, beyond tests/unit/test_contacts_property.py (random CSV rows and bytes):
XLSX workbooks with random typed cells and corrupt ones, UTF-16 and tab-separated files,
random --mapping options, re-imports, erased numbers. Properties: nothing crashes (a bad file is
an ScError that names the fix), a refused file writes nothing, no stored number comes from
anywhere but a phone cell, an erased number never comes back, the reject file is inert in a
spreadsheet, and importing the same file again changes nothing.
"""
import csv
import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sc_asterisk.contacts import ImportOptions, import_contacts
from sc_asterisk.contacts.mapping import parse_mapping_options
from sc_asterisk.contacts.numbers import NumberRejected, to_e164
from sc_asterisk.contacts.reader import UnreadableFile, _cell_text, _looks_binary
from sc_asterisk.contacts.subject import erase_subject
from sc_asterisk.db import Contact, Database
from sc_asterisk.db.models_privacy import ContactSource, ImportBatch
from sc_asterisk.errors import ScError

KEY = "fuzz-installation-key"
TODAY = date(2026, 6, 1)
PROP = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PHONE_TEXT = st.one_of(
    st.sampled_from(["06 12 34 56 78", "+33 6 23 45 67 89", "0692 12 34 56", "08 92 12 34 56",
                     "=0612345678", "+44 7911 123456", "06 CALL ME", "０６１２３４５６７８",
                     "٠٦١٢٣٤٥٦٧٨", "+33 1 99 00 00 01", "3615", ""]),
    st.text(alphabet="0123456789 +.-()", max_size=18),
    st.text(max_size=16),
)
# What a spreadsheet cell may hold (XML 1.0 cannot carry most control characters).
CELL_VALUES = st.one_of(
    PHONE_TEXT.map(lambda t: ILLEGAL_CHARACTERS_RE.sub("", t)),
    st.integers(-10**16, 10**16),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(), st.none(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}")
    database.upgrade()
    return database


def snapshot(db):
    """Everything an import may write, as comparable tuples."""
    with db.session() as s:
        contacts = sorted((c.e164, c.first_name, c.last_name, c.postcode, c.list_name,
                           c.import_batch_id, repr(c.attributes))
                          for c in s.scalars(select(Contact)))
        batches = sorted((b.id, b.fingerprint, b.status, b.rows) for b in s.scalars(select(ImportBatch)))
        sources = sorted((c.contact_id, c.batch_id, c.first_line, c.last_line)
                         for c in s.scalars(select(ContactSource)))
    return contacts, batches, sources


def stored_numbers(db) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(Contact.e164)))


def callable_e164(text: str) -> str | None:
    try:
        return to_e164(text, "FR")
    except NumberRejected:
        return None


def check_rejects(path, rejected_total):
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    assert len(lines) == rejected_total + 1
    for line in lines:
        for cell in line[2:]:                      # detail and raw cells, as written
            assert not cell.startswith(FORMULA_START), cell


# -- XLSX -----------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=st.sampled_from([["Nom", "Portable", "CP"], ["téléphone", "x"],
                               ["GSM", "Date de naissance", "GSM"], ["Portable"]]),
       rows=st.lists(st.lists(CELL_VALUES, min_size=0, max_size=4), max_size=10))
def test_xlsx_with_random_typed_cells(fuzz_db, tmp_path, header, rows):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    phone_cols = [i for i, h in enumerate(header) if h.lower() in ("portable", "téléphone", "gsm")]
    for row in rows:
        ws.append(row)
    wb.save(tmp_path / "f.xlsx")
    before = stored_numbers(fuzz_db)
    try:
        summary = import_contacts(fuzz_db, tmp_path / "f.xlsx", KEY,
                                  ImportOptions(today=TODAY, rejects_path=tmp_path / "r.csv",
                                                batch_size=3))
    except ScError as exc:
        assert exc.fix
        assert stored_numbers(fuzz_db) == before
        return
    assert summary.rows == (summary.created + summary.updated + summary.unchanged
                            + summary.rejected_total)
    check_rejects(tmp_path / "r.csv", summary.rejected_total)
    # No number from nowhere: every new number is what one phone cell of this file says.
    written = {callable_e164(_cell_text(row[i])) for row in rows for i in phone_cols
               if i < len(row)}
    assert stored_numbers(fuzz_db) - before <= written - {None}


def _workbook_bytes(n_rows: int) -> bytes:
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["Nom", "Portable"])
    for i in range(n_rows):
        ws.append([f"n{i}", f"+33 6 12 34 {i // 100:02d} {i % 100:02d}"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _damaged(original: bytes, member: str, cut: float, tail: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == member:
                data = data[:int(len(data) * cut)] + tail
            dst.writestr(item, data)
    return out.getvalue()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cut=st.floats(0.0, 0.999), tail=st.sampled_from([b"", b"<row r=\"99\"><c", b"\x00\xff"]),
       member=st.sampled_from(["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml"]))
@example(cut=0.6, tail=b"", member="xl/worksheets/sheet1.xml")   # rows cut mid-sheet
def test_a_damaged_workbook_is_refused_whole_with_a_clear_error(tmp_path, cut, tail, member):
    db = Database(f"sqlite:///{tmp_path / 'damaged.db'}")
    db.upgrade()
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(_damaged(_workbook_bytes(40), member, cut, tail))
    before = snapshot(db)
    try:
        import_contacts(db, path, KEY, ImportOptions(today=TODAY, batch_size=5))
    except ScError as exc:
        assert exc.fix
        assert snapshot(db) == before          # refused before anything was written
        return
    # Whatever was readable was imported whole, and the batch is complete.
    contacts, batches, _ = snapshot(db)
    assert [b[2] for b in batches] == ["complete"]


@PROP
@given(junk=st.binary(max_size=400))
def test_zip_magic_followed_by_junk_is_refused(fuzz_db, tmp_path, junk):
    path = tmp_path / "junk.xlsx"
    path.write_bytes(b"PK\x03\x04" + junk)
    before = snapshot(fuzz_db)
    with pytest.raises(ScError) as caught:
        import_contacts(fuzz_db, path, KEY, ImportOptions(today=TODAY))
    assert caught.value.fix
    assert snapshot(fuzz_db) == before


# -- UTF-16, tabs, mapping options --------------------------------------------------------------
ROWS = st.lists(st.tuples(st.text(max_size=10), PHONE_TEXT, st.text(max_size=10)), max_size=10)


@PROP
@given(rows=ROWS, encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-8"]),
       delimiter=st.sampled_from(["\t", ";"]))
def test_utf16_and_tab_separated_files(fuzz_db, tmp_path, rows, encoding, delimiter):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["nom", "mobile", "note"])
    writer.writerows(rows)
    path = tmp_path / "u.csv"
    path.write_bytes(out.getvalue().encode(encoding, "replace"))
    before = stored_numbers(fuzz_db)
    try:
        summary = import_contacts(fuzz_db, path, KEY, ImportOptions(
            today=TODAY, rejects_path=tmp_path / "r.csv",
            encoding="utf-16-le" if encoding == "utf-16-le" else None))
    except ScError as exc:
        assert exc.fix and stored_numbers(fuzz_db) == before
        return
    check_rejects(tmp_path / "r.csv", summary.rejected_total)
    assert stored_numbers(fuzz_db) - before <= {callable_e164(r[1]) for r in rows} - {None}


@PROP
@given(items=st.lists(st.one_of(
    st.builds(lambda c, f: f"{c}={f}", st.sampled_from(["Nom", "Bureau", "Tel", "x", "", "=="]),
              st.sampled_from(["phone", "ignore", "attr.", "attr.x", "first_name", "nope", ""])),
    st.text(max_size=20)), max_size=3))
def test_random_mapping_options_are_applied_or_refused_before_any_work(fuzz_db, tmp_path, items):
    path = tmp_path / "m.csv"
    path.write_text("Nom;Tel;Bureau\nDupont;06 12 34 56 78;=1+1\nMartin;+33 6 23 45 67 89;3\n")
    before = snapshot(fuzz_db)
    try:
        mapping = parse_mapping_options(items)
        summary = import_contacts(fuzz_db, path, KEY, ImportOptions(
            today=TODAY, mapping=mapping, rejects_path=tmp_path / "r.csv"))
    except ScError as exc:
        assert exc.fix and snapshot(fuzz_db) == before
        return
    check_rejects(tmp_path / "r.csv", summary.rejected_total)
    new = stored_numbers(fuzz_db) - {c[0] for c in before[0]}
    assert new <= {"+33612345678", "+33623456789"}


# -- re-import and erasure ----------------------------------------------------------------------
@PROP
@given(rows=ROWS, erase=st.lists(st.sampled_from(["06 12 34 56 78", "+33 6 23 45 67 89",
                                                  "0692 12 34 56"]), max_size=2))
@example(rows=[("\x1f", "", "\x1f\x1f")], erase=[])     # control characters only: refused
def test_reimport_changes_nothing_and_erased_numbers_never_come_back(tmp_path, rows, erase):
    db = Database(f"sqlite:///{tmp_path / 'e.db'}")
    db.upgrade()
    erased = {to_e164(n, "FR") for n in erase}
    for number in erase:
        with db.session() as s:
            erase_subject(s, KEY, number)
    rows = rows + [("Effacé", n, "") for n in erase]
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows([("nom", "portable", "note"), *rows])
    path = tmp_path / "r.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    before = snapshot(db)
    try:
        first = import_contacts(db, path, KEY, ImportOptions(today=TODAY))
    except UnreadableFile:
        # Cells made mostly of control characters read as a binary file: refused whole,
        # exactly when the rule says so, and nothing written.
        assert _looks_binary(out.getvalue()) and snapshot(db) == before
        return
    after_first = snapshot(db)
    second = import_contacts(db, path, KEY, ImportOptions(today=TODAY))
    assert second.reused_batch and snapshot(db) == after_first
    assert (second.created, second.updated) == (0, 0)
    assert stored_numbers(db).isdisjoint(erased)
    assert first.rejected["erased"] >= len(erase)
