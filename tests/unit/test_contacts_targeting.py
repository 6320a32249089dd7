"""Audience selection: filters, exclusion reasons, suppression, and the SQL edge cases (NULLs)."""
import os
from datetime import date, datetime, timezone

import pytest

from sc_asterisk.contacts import SuppressionStore, parse_where, select_audience
from sc_asterisk.contacts.mapping import header_key
from sc_asterisk.db import Contact, Database
from sc_asterisk.db.models_privacy import ContactSource, ImportBatch, SuppressionEntry
from sc_asterisk.errors import ConfigError

KEY = "test-installation-key"
TODAY = date(2026, 6, 1)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'target.db'}")
    database.upgrade()
    return database


def person(n: int, **kw) -> Contact:
    values = dict(e164=f"+336{n:08d}", number_type="mobile", time_zone="Europe/Paris",
                  postcode="75011", commune="Paris", legal_basis="consent",
                  birth_date=date(1980, 1, 1), list_name="nord", attributes={})
    values.update(kw)
    if values.get("commune") and "commune_key" not in kw:
        values["commune_key"] = header_key(values["commune"])
    return Contact(**values)


def audience(db, where, **kw):
    with db.session() as s:
        return select_audience(s, parse_where(where), TODAY, key=KEY, **kw)


def test_each_exclusion_reason_is_counted_once_and_matches_are_returned(db):
    with db.session() as s:
        s.add_all([
            person(1),                                                   # matches
            person(2, postcode="69001", commune="Lyon"),                 # outside-area
            person(3, postcode=None, commune=None),                      # outside-area (unknown)
            person(4, number_type="fixed"),                              # wrong-type
            person(5, birth_date=date(2008, 6, 2)),                      # under-age (17y364d)
            person(6, birth_date=date(2008, 6, 1)),                      # 18 today: matches
            person(7, legal_basis=None),                                 # no-consent
            person(8, birth_date=None),                                  # unknown age: matches
            person(9),                                                   # suppressed
            person(10),                                                  # erased tombstone
            person(11, postcode="69001", legal_basis=None),              # first reason wins
            person(12, list_name="sud"),                                 # not in the universe
        ])
        s.flush()
        store = SuppressionStore(s, KEY)
        store.add("+33600000009", "objection", "test")
        # A contact is deleted when erased; what targeting still meets is a tombstone written
        # before tombstones had their slow hash (HMAC-keyed). The dial check sees the others.
        s.add(SuppressionEntry(number_hash=store.pseudonym("+33600000010"), reason="erased",
                               source="test"))
    result = audience(db, ["departement=75", "type=mobile", "list=nord"])
    assert result.members == [(1, "+33600000001"), (6, "+33600000006"), (8, "+33600000008")]
    assert result.contacts == [1, 6, 8]
    assert dict(result.excluded) == {"outside-area": 3, "wrong-type": 1, "under-age": 1,
                                     "no-consent": 1, "suppressed": 1, "erased": 1}


def test_min_age_defaults_to_18_and_can_be_set(db):
    with db.session() as s:
        s.add_all([person(1, birth_date=date(2010, 1, 1)), person(2, birth_date=date(1950, 1, 1))])
    assert audience(db, []).contacts == [2]
    assert audience(db, [], min_age_default=0).contacts == [1, 2]
    assert audience(db, ["min-age=0"]).contacts == [1, 2]
    assert audience(db, ["min-age=70"]).contacts == [2]
    assert dict(audience(db, ["min-age=80"]).excluded) == {"under-age": 2}


def test_area_filters_fold_accents_and_know_corsica_and_overseas(db):
    with db.session() as s:
        s.add_all([
            person(1, postcode="91000", commune="Évry-Courcouronnes"),
            person(2, postcode="20000", commune="Ajaccio"),
            person(3, postcode="20200", commune="Bastia"),
            person(4, postcode="97400", commune="Saint-Denis", e164="+262692123456"),
            person(5, postcode="01000", commune="Bourg-en-Bresse"),
            person(6, postcode="1000", commune="Bruxelles"),   # 4 digits: no département
            person(7, postcode=None, commune="EVRY COURCOURONNES", commune_key=None),
        ])
    assert audience(db, ["commune=evry courcouronnes"]).contacts == [1]
    assert audience(db, ["commune=EVRY COURCOURONNES"]).contacts == [1, 7]  # raw fallback
    assert audience(db, ["departement=2A"]).contacts == [2]
    assert audience(db, ["departement=2b"]).contacts == [3]
    assert audience(db, ["departement=974"]).contacts == [4]
    assert audience(db, ["departement=1"]).contacts == [5]
    assert audience(db, ["departement=10"]).contacts == []
    assert audience(db, ["postcode=20000,20200"]).contacts == [2, 3]
    assert audience(db, ["postcode=20000", "commune=Bastia"]).contacts == []   # keys AND


def test_attribute_filter_and_list_by_provenance(db):
    with db.session() as s:
        s.add_all([person(1, attributes={"bureau de vote": "12"}, list_name="sud"),
                   person(2, attributes={"bureau de vote": "13"}),
                   person(3, attributes={})])
        s.flush()
        batch = ImportBatch(fingerprint="f", file_name="nord.csv", file_sha256="0" * 64,
                            file_format="csv", list_name="nord", region="FR", mapping={},
                            imported_by="test", status="complete")
        s.add(batch)
        s.flush()
        s.add(ContactSource(contact_id=1, batch_id=batch.id, first_line=2, last_line=2))
    # Contact 1 was last imported for "sud" but an earlier import brought it in "nord".
    assert audience(db, ["list=nord"]).contacts == [1, 2, 3]
    result = audience(db, ["attr.bureau de vote=12,14"])
    assert result.contacts == [1]
    assert dict(result.excluded) == {"attribute-mismatch": 2}


@pytest.mark.parametrize("where, message", [
    (["postcode"], "bad --where"),
    (["couleur=bleu"], "unknown filter"),
    (["min-age=dix-huit"], "bad min-age"),
    (["min-age=18,21"], "bad min-age"),
    (["type=fax"], "unknown number type"),
    (["departement=750"], "bad departement"),
    (["postcode="], "bad --where"),
])
def test_bad_filters_are_clear_errors(where, message):
    with pytest.raises(ConfigError, match=message):
        parse_where(where)


def test_parse_where_accepts_aliases_and_lists():
    filters = parse_where(["Département=75, 92", "ville=Paris", "cp=75 011", "liste=nord",
                           "type=mobile,voip", "attr.X=1"])
    assert filters.departements == {"75", "92"}
    assert filters.postcodes == {"75011"}
    assert filters.communes == {"Paris"} and filters.lists == {"nord"}
    assert filters.types == {"mobile", "voip"}
    assert filters.attributes == (("X", frozenset({"1"})),)


def test_fixed_or_mobile_numbers_belong_to_both_families(db):
    with db.session() as s:
        s.add_all([person(1, number_type="fixed-or-mobile"), person(2, number_type="voip")])
    assert audience(db, ["type=mobile"]).contacts == [1]
    assert audience(db, ["type=fixed"]).contacts == [1]
    assert audience(db, ["type=voip"]).contacts == [2]


@pytest.mark.postgres
def test_audience_and_import_on_postgresql(tmp_path):
    url = os.environ.get("SC_ASTERISK_TEST_PG")
    if not url:
        pytest.skip("set SC_ASTERISK_TEST_PG to a scratch PostgreSQL database URL")
    from sqlalchemy import text
    from sc_asterisk.contacts import ImportOptions, import_contacts
    from sc_asterisk.db import Base
    db = Database(url)
    with db.engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.upgrade()
    path = tmp_path / "l.csv"
    path.write_text("tel;cp;commune;naissance;date de consentement\n"
                    "0612345678;20000;Ajaccio;01/01/1980;15/01/2026\n"
                    "0623456789;75011;Paris;01/01/2015;\n", encoding="utf-8")
    first = import_contacts(db, path, KEY, ImportOptions(legal_basis="consent", today=TODAY))
    again = import_contacts(db, path, KEY, ImportOptions(legal_basis="consent", today=TODAY))
    assert (first.created, again.unchanged, again.updated) == (2, 2, 0)
    with db.session() as s:
        SuppressionStore(s, KEY).add("+33623456789", "objection", "test")
        assert select_audience(s, parse_where(["departement=2A"]), TODAY, key=KEY).contacts == [1]
        result = select_audience(s, parse_where([]), TODAY, key=KEY, min_age_default=0)
        assert (result.contacts, dict(result.excluded)) == ([1], {"suppressed": 1})
        consent = s.get(Contact, 1).consent_at
    assert consent == datetime(2026, 1, 14, 23, 0, tzinfo=timezone.utc)
