"""Data-subject rights: export everything, erase for good, audit without clear numbers."""
import json
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sc_asterisk.keys import record_key
from sc_asterisk.cli.common import cli
from sc_asterisk.contacts import (ERASED, ImportOptions, SuppressionStore, erase_subject,
                                  export_subject, import_contacts)
from sc_asterisk.db import CallAttempt, CallRecord, Campaign, Contact, Database, SegmentListen
from sc_asterisk.db.models_privacy import AuditEntry, ContactSource, SuppressionEntry

KEY = "test-installation-key"
NUMBER = "+33612345678"
PERSONAL = ["612345678", "Dupont", "Élodie", "75011", "1981", "boulangère", "samedi 10h-12h"]


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'subject.db'}")
    database.upgrade()
    record_key(database, KEY, "test")
    return database


@pytest.fixture
def contact_file(tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("nom;prénom;téléphone;cp;commune;date de naissance;métier;créneau\n"
                    "Dupont;Élodie;06 12 34 56 78;75011;Paris;07/03/1981;boulangère;"
                    "samedi 10h-12h\n"
                    "Martin;Paul;06 23 45 67 89;75012;Paris;;;\n", encoding="utf-8")
    return path


@pytest.fixture
def called(db, contact_file):
    """Dupont imported, called twice (one finished call with segment listens, one queued)."""
    import_contacts(db, contact_file, KEY, ImportOptions(list_name="nord", legal_basis="consent",
                                                         today=date(2026, 6, 1)))
    with db.session() as s:
        contact = s.scalars(select(Contact).where(Contact.e164 == NUMBER)).one()
        campaign = Campaign(name="municipales")
        s.add(campaign)
        s.flush()
        done = CallAttempt(campaign_id=campaign.id, contact_id=contact.id, number=NUMBER,
                           state="done")
        queued = CallAttempt(campaign_id=campaign.id, contact_id=contact.id, number=NUMBER,
                             attempt_no=2, state="queued")
        s.add_all([done, queued])
        s.flush()
        record = CallRecord(attempt_id=done.id, outcome="answered", originate_ms=1_000,
                            answer_ms=5_000, end_ms=20_000)
        record.segments = [SegmentListen(position=0, role="message", length_ms=12_000,
                                         listened_ms=12_000, heard_full=True, stop_reason="end"),
                           SegmentListen(position=1, role="notice", length_ms=5_000,
                                         listened_ms=2_500, heard_full=False,
                                         stop_reason="hangup")]
        s.add(record)
        return {"done": done.id, "queued": queued.id}


def test_export_holds_everything(db, called):
    with db.session() as s:
        data = export_subject(s, KEY, "06 12 34 56 78", actor="dpo")
    assert data["contact"]["last_name"] == "Dupont"
    assert data["contact"]["attributes"] == {"métier": "boulangère"}
    assert data["contact"]["consent_slot"] == "samedi 10h-12h"
    [src] = data["provenance"]
    assert (src["file_name"], src["list_name"], src["legal_basis"], src["lines"]) == (
        "liste.csv", "nord", "consent", [2, 2])
    assert data["suppression"] is None
    attempts = {a["id"]: a for a in data["call_attempts"]}
    assert set(attempts) == set(called.values())
    record = attempts[called["done"]]["call_record"]
    assert record["outcome"] == "answered"
    assert [seg["listened_ms"] for seg in record["segments"]] == [12_000, 2_500]
    json.dumps(data)  # JSON-ready as it is
    with db.session() as s:
        [entry] = s.scalars(select(AuditEntry))
        assert (entry.actor, entry.action) == ("dpo", "subject-export")


def test_erase_then_export_shows_nothing_personal(db, called, contact_file):
    with db.session() as s:
        report = erase_subject(s, KEY, "06 12 34 56 78", actor="dpo")
    assert (report.contact_deleted, report.provenance_deleted, report.attempts_pseudonymised,
            report.attempts_cancelled) == (True, 1, 2, 1)

    with db.session() as s:
        data = export_subject(s, KEY, NUMBER)
        store = SuppressionStore(s, KEY)
        pseudonym = store.pseudonym(NUMBER)
        assert (data["contact"], data["provenance"], data["call_attempts"]) == (None, [], [])
        assert data["suppression"]["reason"] == ERASED
        text = json.dumps(data, ensure_ascii=False)
        for word in PERSONAL:
            assert word not in text

        attempts = {a.id: a for a in s.scalars(select(CallAttempt))}
        token = report.pseudonym
        assert token.startswith("erased:") and token != pseudonym
        for attempt in attempts.values():
            assert (attempt.number, attempt.contact_id) == (token, None)
            # The dialer's last check before originate sees the token as erased.
            assert store.is_suppressed(attempt.number) == ERASED
        assert attempts[called["queued"]].state == "cancelled"
        assert attempts[called["done"]].state == "done"
        record = s.get(CallRecord, called["done"])          # statistics survive
        assert [seg.listened_ms for seg in record.segments] == [12_000, 2_500]
        assert s.scalars(select(Contact.e164)).all() == ["+33623456789"]
        martin = s.scalars(select(Contact.id)).one()
        assert s.scalars(select(ContactSource.contact_id)).all() == [martin]

        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "erase")).one()
        assert (audit.actor, audit.subject) == ("dpo", token)
        assert "612345678" not in json.dumps(audit.details)

    summary = import_contacts(db, contact_file, KEY, ImportOptions(list_name="nord",
                                                                   legal_basis="consent"))
    assert (dict(summary.rejected), summary.unchanged) == ({ERASED: 1}, 1)
    with db.session() as s:
        assert s.scalars(select(Contact.e164)).all() == ["+33623456789"]


def test_erase_of_a_number_never_held_still_leaves_a_tombstone(db):
    with db.session() as s:
        report = erase_subject(s, KEY, "+33 7 81 23 45 67")
        assert (report.contact_deleted, report.attempts_pseudonymised) == (False, 0)
        assert SuppressionStore(s, KEY).is_suppressed("+33781234567") == ERASED


def test_cli_export_and_erase(db, called, tmp_path):
    runner = CliRunner()
    base = ["--db", db.url, "--home", str(tmp_path / "home")]
    # The CLI reads the installation key from the home directory: use the same one.
    (tmp_path / "home" / "secrets").mkdir(parents=True)
    (tmp_path / "home" / "secrets" / "installation-key").write_text(KEY + "\n")

    out = tmp_path / "export.json"
    result = runner.invoke(cli, base + ["subject-export", "06 12 34 56 78", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["contact"]["first_name"] == "Élodie"

    result = runner.invoke(cli, base + ["erase", "06 12 34 56 78"], input="n\n")
    assert result.exit_code != 0                       # asked, refused: nothing erased
    assert json.loads(runner.invoke(cli, base + ["subject-export", NUMBER]).output)["contact"]

    result = runner.invoke(cli, base + ["erase", "06 12 34 56 78", "--yes"])
    assert result.exit_code == 0, result.output
    assert "2 call attempts pseudonymised" in result.output
    assert "612345678" not in result.output
    exported = runner.invoke(cli, base + ["subject-export", NUMBER]).output
    assert json.loads(exported)["contact"] is None
    for word in PERSONAL:
        assert word not in exported


def _rows_holding(db, value: str) -> list[str]:
    """Every row of every table whose text holds *value*: where a pseudonym could hide."""
    from sc_asterisk.db import Base
    found = []
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                if value in repr(tuple(row)):
                    found.append(f"{table.name}: {tuple(row)!r:.120}")
    return found


def test_after_erasure_no_row_holds_the_numbers_hmac_and_reimport_is_refused(db, called,
                                                                           contact_file):
    """Finding 11 of issue 13: HMAC(key, E.164) is reversible by enumerating the numbering
    plan while the key sits on the host. After erasure no row holds it: attempts carry a
    random token, the tombstone a slow hash, earlier audit entries are rekeyed."""
    with db.session() as s:
        export_subject(s, KEY, NUMBER, actor="dpo")          # an audit entry keyed by HMAC
        SuppressionStore(s, KEY).add(NUMBER, "objection", "cli:dpo")
        pseudonym = SuppressionStore(s, KEY).pseudonym(NUMBER)
    assert _rows_holding(db, pseudonym)                      # before: there it is
    with db.session() as s:
        report = erase_subject(s, KEY, NUMBER, actor="dpo")
    assert _rows_holding(db, pseudonym) == []
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        [tombstone] = s.scalars(select(SuppressionEntry)).all()
        assert (tombstone.number_hash, tombstone.reason) == (store.tombstone_hash(NUMBER),
                                                             ERASED)
        assert store.is_suppressed(NUMBER) == ERASED
        assert {a.number for a in s.scalars(select(CallAttempt))} == {report.pseudonym}
        assert {e.subject for e in s.scalars(select(AuditEntry))} == {report.pseudonym}
        # asking about the erased person again must not bring the HMAC back
        export_subject(s, KEY, NUMBER, actor="dpo")
        SuppressionStore(s, KEY).add(NUMBER, "objection", "cli:dpo")
    assert _rows_holding(db, pseudonym) == []
    summary = import_contacts(db, contact_file, KEY, ImportOptions(list_name="nord",
                                                                   legal_basis="consent"))
    assert summary.rejected[ERASED] == 1
    with db.session() as s:
        assert NUMBER not in s.scalars(select(Contact.e164)).all()
