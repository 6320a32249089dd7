"""Property: whatever the file holds, the importer never crashes and never stores a number that
is invalid or of a type we refuse; every row is accounted for."""
import csv
import io
from datetime import date

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sc_asterisk.contacts import ImportOptions, UnreadableFile, import_contacts
from sc_asterisk.contacts.numbers import CALLABLE_TYPES
from sc_asterisk.db import Contact, Database
from sc_asterisk.errors import ScError

KEY = "test-installation-key"
PHONES = st.one_of(
    st.sampled_from(["06 12 34 56 78", "+33 6 23 45 67 89", "0033 6 34 56 78 90",
                     "6.45.67.89.01", "0692 12 34 56", "+590 690 12 34 56", "+44 7911 123456",
                     "08 92 12 34 56", "08 10 12 34 56", "3615", "0800 12 34 56", "+1 800 555 0100",
                     "=0612345678", "-0612345678", "@06", "06 CALL ME", "", " "]),
    st.text(alphabet="0123456789 +.-()/", max_size=22),
    st.text(max_size=25),
)
CELLS = st.text(max_size=15)
ROWS = st.lists(st.tuples(CELLS, PHONES, st.one_of(CELLS, st.sampled_from(["75011", "2A004"])),
                          st.one_of(CELLS, st.sampled_from(["07/03/1981", "1999-02-29"]))),
                max_size=12)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    database.upgrade()
    return database


def assert_base_is_clean(db):
    with db.session() as s:
        for e164 in s.scalars(select(Contact.e164)):
            number = phonenumbers.parse(e164)
            assert phonenumbers.is_valid_number(number), e164
            assert phonenumbers.number_type(number) in CALLABLE_TYPES, e164
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == e164


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, delimiter=st.sampled_from([";", ","]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), batch_size=st.integers(1, 5))
def test_importer_never_crashes_and_never_stores_an_invalid_number(db, tmp_path, rows, delimiter,
                                                                    encoding, batch_size):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["nom", "téléphone", "code postal", "date de naissance"])
    writer.writerows(rows)
    path = tmp_path / "p.csv"
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    try:
        summary = import_contacts(db, path, KEY, ImportOptions(batch_size=batch_size,
                                                               today=date(2026, 6, 1),
                                                               rejects_path=tmp_path / "r.csv"))
    except UnreadableFile as exc:  # cells of control characters: refused whole as binary
        assert "not a text file" in str(exc)
        return
    assert summary.rows == (summary.created + summary.updated + summary.unchanged
                            + summary.rejected_total)
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.reader(f))) == summary.rejected_total + 1
    assert_base_is_clean(db)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300),
                         st.text(max_size=300).map(lambda t: ("tel;nom\n" + t).encode())))
def test_arbitrary_bytes_are_imported_or_refused_with_a_clear_error(db, tmp_path, content):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        import_contacts(db, path, KEY, ImportOptions(today=date(2026, 6, 1)))
    except ScError as exc:
        assert exc.fix
    assert_base_is_clean(db)
