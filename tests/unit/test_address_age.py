"""People who moved away (issue 13, finding 12): every address carries the date it was last
confirmed, and geographic targeting leaves out addresses older than a freshness limit (12 months
under the fr-cnil profile), counting them in the exclusion report."""
import hashlib
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sc_asterisk.config import Settings
from sc_asterisk.keys import key_init
from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.contacts import ImportOptions, import_contacts, parse_where, select_audience
from sc_asterisk.contacts.mapping import header_key
from sc_asterisk.contacts.targeting import AddressAge, parse_address_age
from sc_asterisk.db import AudioAsset, Contact, Database
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.errors import ConfigError

KEY = "test-installation-key"
TODAY = date(2026, 6, 1)


def _dates(db) -> dict[str, datetime | None]:
    with db.session() as s:
        rows = s.execute(select(Contact.e164, Contact.address_asserted_at)).all()
    return {e164: at and at.replace(tzinfo=None) for e164, at in rows}


def test_import_dates_each_address_from_its_column_its_consent_or_the_file(db, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("tel;commune;date adresse;date de consentement\n"
                    "0612345671;Paris;2025-03-01;2020-01-01\n"   # its own column first
                    "0612345672;Paris;;15/01/2024\n"              # else the consent date
                    "0612345673;Paris;;\n"                        # else the file's date
                    "0612345674;;2025-03-01;\n"                   # no address: nothing to date
                    "0612345675;Paris;hier;\n", encoding="utf-8")  # refused, like a bad date
    summary = import_contacts(db, path, KEY, ImportOptions(today=TODAY,
                                                           address_date=date(2023, 5, 4)))
    assert dict(summary.rejected) == {"bad-address-date": 1}
    assert _dates(db) == {"+33612345671": datetime(2025, 2, 28, 23, 0),   # Paris midnight
                          "+33612345672": datetime(2024, 1, 14, 23, 0),
                          "+33612345673": datetime(2023, 5, 4, 0, 0),
                          "+33612345674": None}


def test_without_any_date_the_address_age_is_unknown(db, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("tel;commune\n0612345671;Paris\n", encoding="utf-8")
    import_contacts(db, path, KEY, ImportOptions(today=TODAY))
    assert _dates(db) == {"+33612345671": None}


def test_an_address_is_as_fresh_as_its_newest_confirmation(db, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("tel;commune;date adresse\n"
                     "0612345671;Paris;2026-01-10\n"
                     "0612345672;Paris;2026-01-10\n", encoding="utf-8")
    # a later file repeats one address with an older date, and moves the other person
    second.write_text("tel;commune;date adresse\n"
                      "0612345671;Paris;2019-01-10\n"
                      "0612345672;Lyon;2019-01-10\n", encoding="utf-8")
    for path in (first, second):
        import_contacts(db, path, KEY, ImportOptions(today=TODAY))
    assert _dates(db) == {"+33612345671": datetime(2026, 1, 9, 23, 0),
                          "+33612345672": datetime(2019, 1, 9, 23, 0)}


def test_a_future_address_date_is_refused_before_anything_is_written(db, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("tel;commune\n0612345671;Paris\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="in the future"):
        import_contacts(db, path, KEY, ImportOptions(today=TODAY, address_date=date(2027, 1, 1)))


def _person(n: int, asserted: datetime | None, commune: str = "Paris") -> Contact:
    return Contact(e164=f"+336{n:08d}", number_type="mobile", time_zone="Europe/Paris",
                   commune=commune, commune_key=header_key(commune), legal_basis="consent",
                   address_asserted_at=asserted, attributes={})


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def people(db):
    with db.session() as s:
        s.add_all([_person(1, _utc(2026, 5, 1)),         # fresh
                   _person(2, _utc(2025, 6, 1)),         # exactly 12 months: kept
                   _person(3, _utc(2025, 5, 31)),        # a day older: moved away?
                   _person(4, _utc(2024, 1, 1)),
                   _person(5, None),                     # never dated
                   _person(6, _utc(2010, 1, 1), "Lyon")])  # out of the area first
    return db


def test_area_targeting_leaves_out_stale_and_undated_addresses(people):
    with people.session() as s:
        got = select_audience(s, parse_where(["commune=Paris"]), TODAY, key=KEY,
                              max_address_age=AddressAge(months=12))
    assert [e164 for _, e164 in got.members] == ["+33600000001", "+33600000002"]
    assert dict(got.excluded) == {"stale-address": 2, "address-age-unknown": 1,
                                  "outside-area": 1}
    with people.session() as s:
        longer = select_audience(s, parse_where(["commune=Paris"]), TODAY, key=KEY,
                                 max_address_age=parse_address_age("30m"))
        # without an area filter, where people live is not the question
        everyone = select_audience(s, parse_where([]), TODAY, key=KEY,
                                   max_address_age=AddressAge(months=12))
    assert len(longer.members) == 4 and dict(longer.excluded) == {"address-age-unknown": 1,
                                                                  "outside-area": 1}
    assert len(everyone.members) == 6


@pytest.mark.parametrize("text, age", [("18m", AddressAge(months=18)),
                                       ("365d", AddressAge(days=365)),
                                       ("2y", AddressAge(months=24)), (" 12M ", AddressAge(12))])
def test_address_ages_people_write(text, age):
    assert parse_address_age(text) == age


@pytest.mark.parametrize("text", ["", "12", "0m", "-3m", "12 weeks", "1.5y"])
def test_bad_address_ages_are_clear_errors(text):
    with pytest.raises(ConfigError, match="bad address age"):
        parse_address_age(text)


def test_no_limit_only_outside_the_fr_cnil_profile():
    assert parse_address_age("none", "basic") is None
    with pytest.raises(ConfigError, match="fr-cnil"):
        parse_address_age("none", "fr-cnil")


def _queue(url, home, *args):
    return CliRunner().invoke(cli, ["--db", url, "--home", str(home), "campaign", "queue",
                                    *args])


def test_campaign_queue_applies_the_profiles_limit_and_reports_it(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    db = Database(url)
    db.upgrade()
    today = date.today()
    with db.session() as s:
        for name in ("m", "n", "i"):
            s.add(AudioAsset(name=name, sha256=hashlib.sha256(b"x").hexdigest(),
                             duration_ms=1000, source_filename="x", data=b"x"))
        s.flush()
        create_campaign(s, "cnil", message="m", notice="n", optout_intro="i")
        create_campaign(s, "plain", message="m", notice="n", compliance_profile="basic")
        s.add_all([_person(1, datetime(today.year, today.month, 1, tzinfo=timezone.utc)),
                   _person(2, datetime(today.year - 3, 1, 1, tzinfo=timezone.utc))])
    home = tmp_path / "home"
    key_init(Settings.load(db_url=url, home=home), db)
    cnil = _queue(url, home, "cnil", "--where", "commune=Paris")
    assert cnil.exit_code == 0, cnil.output
    assert "1 matched, 1 attempts queued for cnil" in cnil.output
    assert "excluded stale-address: 1" in cnil.output
    assert "addresses confirmed more than 12 months ago left out" in cnil.output
    longer = _queue(url, home, "cnil", "--where", "commune=Paris", "--max-address-age", "5y")
    assert "2 matched" in longer.output
    with pytest.raises(SystemExit) as refused:
        main(["--db", url, "--home", str(home), "campaign", "queue", "cnil", "--where",
              "commune=Paris", "--max-address-age", "none"])
    assert refused.value.code == 2
    assert "give --max-address-age an age" in capsys.readouterr().err
    plain = _queue(url, home, "plain", "--where", "commune=Paris")
    assert "2 matched" in plain.output and "stale-address" not in plain.output


def test_upgrade_dates_addresses_by_consent_and_moves_tahiti_out_of_gambier(tmp_path):
    from sqlalchemy import text
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade("0004")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO contact (e164, time_zone, commune, consent_at, attributes, created_at,"
            " updated_at) VALUES"
            " ('+33612345671', 'Europe/Paris', 'Paris', '2025-01-02 00:00:00.000000', '{}',"
            "  '2025-01-02', '2025-01-02'),"
            " ('+68987123456', 'Pacific/Gambier', NULL, '2025-01-02 00:00:00.000000', '{}',"
            "  '2025-01-02', '2025-01-02')"))
    db.upgrade()
    with db.session() as s:
        rows = {c.e164: (c.time_zone, c.address_asserted_at) for c in s.scalars(select(Contact))}
    assert rows == {"+33612345671": ("Europe/Paris", datetime(2025, 1, 2)),
                    "+68987123456": ("Pacific/Tahiti", None)}
