"""Contact import against hostile files: encodings, delimiters, formats, bad and duplicate rows."""
import csv
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy import func, select

from sc_asterisk.contacts import (ImportOptions, SuppressionStore, UnreadableFile,
                                  import_contacts)
from sc_asterisk.contacts.mapping import RowParser
from sc_asterisk.contacts.numbers import CALLABLE_TYPES
from sc_asterisk.contacts.validate import WorkerDied
from sc_asterisk.db import Contact, Database
from sc_asterisk.db.models_privacy import ContactSource, ImportBatch
from sc_asterisk.errors import ConfigError, ScError

KEY = "test-installation-key"
TODAY = date(2026, 6, 1)

HOSTILE = [
    "Nom;Prénom;Téléphone;Code postal;Commune;Date de naissance;Note",
    'Dupont;Élodie;06 12 34 56 78;75011;Paris;07/03/1981;"=HYPERLINK(""http://x"";""y"")"',  # 2
    "",                                                                                # 3 blank
    "Martin;Loïc;+33 6 23 45 67 89;75012;Paris;;+1 vote",                              # 4
    "Bernard;Cécile;0033 6 34 56 78 90;75011;Paris;;-moins",                           # 5
    "Petit;Agnès;6.45.67.89.01;75011;Paris;;@mention",                                 # 6
    "Robert;Jérôme;+262 692 12 34 56;97400;Saint-Denis;;",                              # 7
    "Richard;Hélène;+590 690 12 34 56;97110;Pointe-à-Pitre;;",                          # 8
    "Durand;Noël;+596 696 12 34 56;97200;Fort-de-France;;",                             # 9
    "Dubois;Maëlle;+594 694 12 34 56;97300;Cayenne;;",                                  # 10
    "Moreau;Saïd;+269 321 23 45;;Moroni;;",                                             # 11
    "Smith;John;+44 7911 123456;;London;;",                                             # 12
    "Prime;Un;08 92 12 34 56;75011;Paris;;",                                            # 13
    "Partage;Deux;08 10 12 34 56;75011;Paris;;",                                        # 14
    "Court;Trois;3615;75011;Paris;;",                                                   # 15
    "Formule;Quatre;=0612345678;75011;Paris;;",                                         # 16
    "Dupont;Élodie;06 12 34 56 78;75011;Paris;07/03/1981;seconde ligne",                # 17 dup
    "Lettres;Cinq;06 CALL ME;75011;Paris;;",                                            # 18
    "Manque;Six;06 98 76 54 32",                                                        # 19
    "Naissance;Sept;06 11 11 11 11;75011;Paris;31/02/1990;",                            # 20
    "Postal;Huit;06 22 22 22 22;7501;Paris;;",                                          # 21
    "",                                                                                 # 22
    "Tronqué;Neuf;06 33 33",                                                            # 23 cut
]
EXPECTED_REJECTS = {
    13: "premium-rate", 14: "shared-cost", 15: "too-short", 16: "not-a-number",
    18: "not-a-number", 19: "missing-fields", 20: "bad-birth-date", 21: "bad-postcode",
    23: "missing-fields",
}
EXPECTED_NUMBERS = {
    "+33612345678", "+33623456789", "+33634567890", "+33645678901", "+262692123456",
    "+590690123456", "+596696123456", "+594694123456", "+2693212345", "+447911123456",
}


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'contacts.db'}")
    database.upgrade()
    return database


def write(path: Path, lines: list[str], encoding: str, newline: str = "\n",
          final_newline: bool = False) -> Path:
    path.write_bytes((newline.join(lines) + (newline if final_newline else "")).encode(encoding))
    return path


def run(db, path, **kw):
    kw.setdefault("today", TODAY)
    return import_contacts(db, path, KEY, ImportOptions(**kw))


def read_rejects(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def contacts(db) -> dict[str, Contact]:
    with db.session() as s:
        return {c.e164: c for c in s.scalars(select(Contact))}


def snapshot(db) -> dict:
    with db.session() as s:
        return {model.__tablename__: sorted(
                    tuple(str(getattr(row, col.key)) for col in model.__table__.columns)
                    for row in s.scalars(select(model)))
                for model in (Contact, ContactSource, ImportBatch)}


def assert_base_is_clean(db):
    for e164, contact in contacts(db).items():
        number = phonenumbers.parse(e164)
        assert phonenumbers.is_valid_number(number), e164
        assert phonenumbers.number_type(number) in CALLABLE_TYPES, e164


@pytest.mark.parametrize("crlf", [False, True])
def test_hostile_cp1252_semicolon_file(db, tmp_path, crlf):
    path = write(tmp_path / "liste.csv", HOSTILE, "cp1252", "\r\n" if crlf else "\n")
    rejects = tmp_path / "rejets.csv"
    summary = run(db, path, list_name="nord", legal_basis="consent", rejects_path=rejects)

    assert (summary.encoding, summary.delimiter) == ("cp1252", ";")
    rows = read_rejects(rejects)
    assert rows[0] == ["line", "reason", "detail", "Nom", "Prénom", "Téléphone", "Code postal",
                       "Commune", "Date de naissance", "Note"]
    assert {int(r[0]): r[1] for r in rows[1:]} == EXPECTED_REJECTS
    assert summary.rejected_total == len(EXPECTED_REJECTS) == len(rows) - 1
    for row in rows[1:]:                                     # formula-injection-safe cells
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    assert ["16", "not-a-number", "", "Formule", "Quatre", "'=0612345678", "75011", "Paris", "",
            ""] in rows
    assert (summary.rows, summary.created, summary.duplicates, summary.blank_rows) == (20, 10, 1, 2)
    assert summary.rows == (summary.created + summary.updated + summary.unchanged
                            + summary.rejected_total)

    held = contacts(db)
    assert set(held) == EXPECTED_NUMBERS
    assert_base_is_clean(db)
    dupont = held["+33612345678"]
    assert (dupont.first_name, dupont.birth_date) == ("Élodie", date(1981, 3, 7))
    assert dupont.attributes == {"Note": "seconde ligne"}          # the later line wins
    assert held["+33623456789"].attributes == {"Note": "+1 vote"}  # stored as typed, not coerced
    assert held["+262692123456"].time_zone == "Indian/Reunion"
    assert held["+590690123456"].commune_key == "pointe a pitre"
    assert {c.list_name for c in held.values()} == {"nord"}
    assert {c.legal_basis for c in held.values()} == {"consent"}
    with db.session() as s:
        src = s.scalars(select(ContactSource).where(ContactSource.contact_id == dupont.id)).one()
        assert (src.first_line, src.last_line) == (2, 17)


def test_small_batches_give_the_same_result_as_one_batch(db, tmp_path):
    path = write(tmp_path / "liste.csv", HOSTILE, "cp1252")
    small = run(db, path, batch_size=2, rejects_path=tmp_path / "small.csv")
    assert (small.created, small.duplicates) == (10, 1)
    assert set(contacts(db)) == EXPECTED_NUMBERS
    assert contacts(db)["+33612345678"].attributes == {"Note": "seconde ligne"}
    assert {int(r[0]): r[1] for r in read_rejects(tmp_path / "small.csv")[1:]} == EXPECTED_REJECTS
    with db.session() as s:
        lines = s.execute(select(ContactSource.first_line, ContactSource.last_line)
                          .join(Contact, Contact.id == ContactSource.contact_id)
                          .where(Contact.e164 == "+33612345678")).one()
    assert tuple(lines) == (2, 17)


def test_validation_on_worker_processes_gives_the_same_result(db, tmp_path):
    path = write(tmp_path / "liste.csv", HOSTILE, "cp1252")
    summary = run(db, path, batch_size=3, workers=2, rejects_path=tmp_path / "par.csv")
    assert (summary.created, summary.duplicates, summary.rejected_total) == (10, 1, 9)
    assert (summary.rows, summary.blank_rows) == (20, 2)
    assert set(contacts(db)) == EXPECTED_NUMBERS
    assert contacts(db)["+33612345678"].attributes == {"Note": "seconde ligne"}
    assert {int(r[0]): r[1] for r in read_rejects(tmp_path / "par.csv")[1:]} == EXPECTED_REJECTS


@pytest.mark.parametrize("workers", [0, 2])
def test_erased_numbers_are_rejected_with_their_cells_in_line_order(db, tmp_path, workers):
    with db.session() as s:
        SuppressionStore(s, KEY).tombstone("+33612345678", "erase:test")
    path = write(tmp_path / "liste.csv", HOSTILE, "cp1252")
    summary = run(db, path, batch_size=4, workers=workers, rejects_path=tmp_path / "r.csv")
    rows = read_rejects(tmp_path / "r.csv")[1:]
    assert [int(r[0]) for r in rows] == sorted(int(r[0]) for r in rows)
    assert {int(r[0]): r[1] for r in rows} == {**EXPECTED_REJECTS, 2: "erased", 17: "erased"}
    assert rows[0] == ["2", "erased", "", "Dupont", "Élodie", "06 12 34 56 78", "75011", "Paris",
                       "07/03/1981", "'=HYPERLINK(\"http://x\";\"y\")"]
    assert (summary.created, summary.rejected_total) == (9, 11)
    assert set(contacts(db)) == EXPECTED_NUMBERS - {"+33612345678"}


def test_an_import_leaves_the_database_connection_as_it_found_it(db, tmp_path):
    def cache_size():
        with db.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA cache_size").scalar()
    before = cache_size()
    run(db, write(tmp_path / "liste.csv", HOSTILE, "cp1252"), batch_size=3)
    assert cache_size() == before


def test_reimporting_the_same_file_changes_nothing(db, tmp_path):
    path = write(tmp_path / "liste.csv", HOSTILE, "cp1252")
    first = run(db, path, list_name="nord")
    before = snapshot(db)
    again = run(db, path, list_name="nord", batch_size=3)
    assert snapshot(db) == before
    assert (again.batch_id, again.reused_batch) == (first.batch_id, True)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10 + 1)
    assert again.rejected == first.rejected


def test_newest_import_wins_and_an_older_file_reimported_cannot_overwrite(db, tmp_path):
    header = "nom,telephone,ville,profession"
    old = write(tmp_path / "old.csv", [header, "Dupont,0612345678,Paris,boulanger"], "utf-8")
    new = write(tmp_path / "new.csv", [header, "Dupont,+33612345678,Lyon,"], "utf-8")
    run(db, old, list_name="a")
    run(db, new, list_name="b")
    run(db, old, list_name="a")                       # same bytes and options: batch reused
    [contact] = contacts(db).values()
    assert (contact.commune, contact.list_name) == ("Lyon", "b")
    assert contact.attributes == {}                   # the newer file said the cell was empty
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ContactSource)) == 2  # provenance kept


def test_fields_a_newer_file_has_no_column_for_are_kept(db, tmp_path):
    run(db, write(tmp_path / "a.csv", ["tel;naissance", "0612345678;01/02/1990"], "utf-8"))
    run(db, write(tmp_path / "b.csv", ["tel;cp", "0612345678;75011"], "utf-8"))
    [contact] = contacts(db).values()
    assert (contact.birth_date, contact.postcode) == (date(1990, 2, 1), "75011")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "utf-16"])
def test_unicode_files_with_or_without_bom_and_commas(db, tmp_path, encoding):
    path = write(tmp_path / "l.csv", ["Téléphone,Prénom,Commune", '"06 12 34 56 78",Zoé,Évry',
                                      "0623456789,Anaïs,\"Saint-Étienne, centre\""], encoding)
    summary = run(db, path)
    assert (summary.created, summary.delimiter) == (2, ",")
    held = contacts(db)
    assert held["+33612345678"].first_name == "Zoé"
    assert held["+33623456789"].commune == "Saint-Étienne, centre"


@pytest.mark.parametrize("workers", [None, 2])
def test_xlsx_with_numeric_and_date_cells(db, tmp_path, workers):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["Nom", "Portable", "CP", "Date de naissance", "Bureau"])
    ws.append(["Dupont", 612345678, "75011", datetime(1981, 3, 7), 12])
    ws.append(["Prime", "0892123456", "75011", None, None])
    ws.append([None, None, None, None, None])
    ws.append(["Martin", "+33 6 23 45 67 89", "75012", "07/03/2015", 3.0])
    wb.save(tmp_path / "l.xlsx")
    summary = run(db, tmp_path / "l.xlsx", rejects_path=tmp_path / "r.csv", workers=workers)
    assert (summary.file_format, summary.created, dict(summary.rejected)) == (
        "xlsx", 2, {"premium-rate": 1})
    held = contacts(db)
    assert held["+33612345678"].birth_date == date(1981, 3, 7)
    assert held["+33612345678"].attributes == {"Bureau": "12"}
    assert held["+33623456789"].attributes == {"Bureau": "3"}
    assert [r[:2] for r in read_rejects(tmp_path / "r.csv")[1:]] == [["3", "premium-rate"]]


def test_mapping_option_names_the_phone_column_and_attributes(db, tmp_path):
    path = write(tmp_path / "l.csv", ["Contact;Num;Bureau de vote;Créneau accepté",
                                      "Dupont;0612345678;12;lun-ven 10h-12h"], "utf-8")
    with pytest.raises(ConfigError, match="no phone column"):
        run(db, path)
    run(db, path, mapping={"num": "phone", "bureau de vote": "attr.bureau",
                           "creneau accepte": "consent_slot", "contact": "ignore"})
    [contact] = contacts(db).values()
    assert (contact.consent_slot, contact.attributes, contact.last_name) == (
        "lun-ven 10h-12h", {"bureau": "12"}, None)


def test_consent_columns_and_legal_basis_column(db, tmp_path):
    path = write(tmp_path / "l.csv", [
        "tel;date de consentement;creneau;base legale",
        "0612345678;15/01/2026;samedi 10h-12h;Consentement",
        "0623456789;2026-01-15T09:30:00;;intérêt légitime",
        "0634567890;32/01/2026;;consent",
        "0645678901;;;peut-être"], "utf-8")
    summary = run(db, path, rejects_path=tmp_path / "r.csv")
    assert dict(summary.rejected) == {"bad-consent-date": 1, "bad-legal-basis": 1}
    held = contacts(db)
    first = held["+33612345678"]
    assert (first.legal_basis, first.consent_slot) == ("consent", "samedi 10h-12h")
    assert first.consent_at.replace(tzinfo=None) == datetime(2026, 1, 14, 23, 0)  # Paris -> UTC
    assert held["+33623456789"].legal_basis == "legitimate-interest"


def test_extra_empty_trailing_cells_are_fine_but_extra_values_are_not(db, tmp_path):
    path = write(tmp_path / "l.csv", ["tel;nom", "0612345678;A;", "0623456789;B;surprise"],
                 "utf-8")
    summary = run(db, path)
    assert (summary.created, dict(summary.rejected)) == (1, {"extra-fields": 1})


def test_a_nul_character_in_a_cell_rejects_that_row_only(db, tmp_path):
    path = write(tmp_path / "l.csv", ["tel;nom", "0612345678;A\x00B", "0623456789;C"], "utf-8")
    summary = run(db, path)
    assert (summary.created, dict(summary.rejected)) == (1, {"nul-character": 1})


def test_unterminated_quote_on_the_last_line_is_rejected(db, tmp_path):
    path = write(tmp_path / "l.csv", ["tel;nom;cp", "0612345678;A;75011", '0623456789;"Bro'],
                 "utf-8")
    summary = run(db, path)
    assert (summary.created, dict(summary.rejected)) == (1, {"missing-fields": 1})


@pytest.mark.parametrize("content, error", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "legacy Excel"),
    (b"PK\x03\x04 not really a workbook", "not a readable XLSX"),
    (b"tel;nom\x00\x00\x00\n\x00\x01", "not a text file"),
    (bytes(range(128)) * 8, "not a text file"),
    (b"", "no header row"),
    (b"\n\n  \n", "no header row"),
    (b"nom;prenom;ville\nDupont;Jean;Paris\n", "no phone column"),
])
def test_unreadable_files_import_nothing(db, tmp_path, content, error):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ScError, match=error):
        run(db, path)
    assert snapshot(db) == {"contact": [], "contact_source": [], "import_batch": []}


def test_bad_byte_late_in_a_file_is_caught_before_anything_is_imported(db, tmp_path):
    lines = ["tel;nom"] + [f"06{i:08d};" + "x" * 4000 for i in range(300)]
    path = tmp_path / "late.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"0612345678;\x81\n")
    assert path.stat().st_size > 1 << 20  # the bad byte is beyond the first block read
    with pytest.raises(UnreadableFile, match="not valid utf-8 or cp1252"):
        run(db, path)
    with pytest.raises(UnreadableFile, match="not valid utf-8"):
        run(db, path, encoding="utf-8")
    assert contacts(db) == {}
    summary = run(db, path, encoding="latin-1", batch_size=5000)
    assert summary.created > 0


def test_options_are_checked_before_any_work(db, tmp_path):
    path = write(tmp_path / "l.csv", ["tel", "0612345678"], "utf-8")
    with pytest.raises(ConfigError, match="legal basis"):
        run(db, path, legal_basis="because")
    with pytest.raises(ScError, match="region"):
        run(db, path, region="ZZ")
    with pytest.raises(ConfigError, match="not in l.csv"):
        run(db, path, mapping={"portable": "phone"})
    with pytest.raises(ConfigError, match="list name"):
        run(db, path, list_name="x" * 101)
    assert contacts(db) == {}


@pytest.mark.parametrize("workers", [0, 2])
def test_progress_reports_the_whole_file(db, tmp_path, workers):
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(100)], "utf-8")
    seen = []
    summary = import_contacts(db, path, KEY, ImportOptions(workers=workers, batch_size=7),
                              progress=seen.append)
    assert sum(seen) == path.stat().st_size
    assert summary.created == 100


def test_a_failing_validation_worker_fails_the_import_and_leaves_no_process(db, tmp_path,
                                                                           monkeypatch):
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(100)], "utf-8")
    real = RowParser.record

    def record(self, cells):  # runs in the (forked) worker
        if cells[0] == "0600000042":
            raise RuntimeError("validation bug")
        return real(self, cells)
    monkeypatch.setattr(RowParser, "record", record)
    with pytest.raises(RuntimeError, match="validation bug") as raised:
        run(db, path, workers=2, batch_size=10)
    assert "in the contact validation process" in raised.value.__notes__[0]
    assert multiprocessing.active_children() == []
    assert len(contacts(db)) == 40  # the chunks before the failing one, each committed whole


def test_a_validation_worker_that_dies_fails_the_import_instead_of_hanging(db, tmp_path,
                                                                          monkeypatch):
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(100)], "utf-8")
    real = RowParser.record

    def record(self, cells):  # as if killed for lack of memory
        if cells[0] == "0600000042":
            os._exit(3)
        return real(self, cells)
    monkeypatch.setattr(RowParser, "record", record)
    with pytest.raises(WorkerDied, match="exit code 3") as raised:
        run(db, path, workers=2, batch_size=10)
    assert "run the same import again" in raised.value.fix
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_validation_worker_ends_when_its_import_is_killed(db, tmp_path):
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(50000)], "utf-8")
    script = ("import sys; from sc_asterisk.contacts import ImportOptions, import_contacts; "
              "from sc_asterisk.db import Database; "
              f"import_contacts(Database(sys.argv[1]), sys.argv[2], {KEY!r}, "
              "ImportOptions(workers=1, batch_size=20))")
    proc = subprocess.Popen([sys.executable, "-c", script, db.url, str(path)])
    try:
        worker = wait_for(lambda: children_of(proc.pid))
        assert worker, "the import started no validation process"
        proc.kill()                                              # kill -9, mid-import
        proc.wait()
        assert wait_for(lambda: not Path(f"/proc/{worker[0]}").exists()), "worker left behind"
    finally:
        proc.kill()
    with db.session() as s:                                      # whole chunks only
        assert s.scalar(select(func.count()).select_from(Contact)) % 20 == 0


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_a_failure_while_writing_stops_the_validation_workers(db, tmp_path, monkeypatch):
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(1000)], "utf-8")
    real = SuppressionStore.erased_for_import
    calls = []

    def erased_for_import(self, numbers, known):  # in each chunk's transaction
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, numbers, known)
    monkeypatch.setattr(SuppressionStore, "erased_for_import", erased_for_import)
    with pytest.raises(OSError, match="disk full"):
        run(db, path, workers=2, batch_size=10)
    assert multiprocessing.active_children() == []
    assert len(contacts(db)) == 10


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failure_between_contacts_and_provenance_leaves_whole_chunks_and_resumes(
        db, tmp_path, monkeypatch, workers):
    """A chunk's contacts and their provenance commit together: an error after the contacts
    are written (here: the provenance insert) leaves the earlier chunks only, and the same
    import run again finishes the file."""
    from sc_asterisk.contacts import importer
    path = write(tmp_path / "l.csv", ["tel"] + [f"06{i:08d}" for i in range(100)], "utf-8")
    real, calls = importer.insert_rows, []

    def insert_rows(s, table, names, rows):
        calls.append(table.name)
        if calls.count("contact_source") == 3:
            raise OSError("disk full")
        return real(s, table, names, rows)
    monkeypatch.setattr(importer, "insert_rows", insert_rows)
    with pytest.raises(OSError, match="disk full"):
        run(db, path, workers=workers, batch_size=30)
    with db.session() as s:
        ids = s.scalars(select(Contact.id).order_by(Contact.id)).all()
        sourced = s.scalars(select(ContactSource.contact_id).order_by(ContactSource.contact_id)
                            ).all()
    assert ids == sourced == list(range(1, 61))
    monkeypatch.setattr(importer, "insert_rows", real)
    again = run(db, path, workers=workers, batch_size=30)
    assert again.reused_batch and again.created == 40
    with db.session() as s:
        assert s.scalars(select(Contact.id).order_by(Contact.id)).all() == list(range(1, 101))
        assert s.scalar(select(func.count()).select_from(ContactSource)) == 100
