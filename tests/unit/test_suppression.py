"""The suppression store: keyed hashes only, the same normalisation as the importer, the CLI."""
import os
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sc_asterisk.keys import key_init, load_key
from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.config import Settings
from sc_asterisk.contacts import ERASED, NumberRejected, SuppressionStore, dial_check
from sc_asterisk.contacts.tombstones import erased_token
from sc_asterisk.db import Database
from sc_asterisk.db.models_privacy import SuppressionEntry
from sc_asterisk.errors import ConfigError

KEY = "test-installation-key"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'supp.db'}")
    database.upgrade()
    return database


def test_every_french_spelling_hits_the_same_entry_and_no_clear_number_is_stored(db, tmp_path):
    with db.session() as s:
        SuppressionStore(s, KEY).add("+33612345678", "objection by letter", "cli:test")
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        for spelling in ("06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "6.12.34.56.78"):
            assert store.check(spelling).reason == "objection by letter"
            assert store.is_suppressed(store.check(spelling).e164) == "objection by letter"
        assert store.is_suppressed("+33623456789") is None
        [entry] = s.scalars(select(SuppressionEntry))
        assert entry.number_hash == store.pseudonym("+33612345678")
    raw = (tmp_path / "supp.db").read_bytes()
    assert b"612345678" not in raw


def test_the_key_matters(db):
    with db.session() as s:
        SuppressionStore(s, KEY).add("+33612345678", "opt-out", "dtmf")
        assert SuppressionStore(s, "another-key").is_suppressed("+33612345678") is None
        assert SuppressionStore(s, KEY.encode()).is_suppressed("+33612345678") == "opt-out"


def test_add_is_idempotent_and_tombstone_supersedes(db):
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        first = store.add("+33612345678", "opt-out", "dtmf")
        again = store.add("+33612345678", "objection", "cli")
        assert again.id == first.id and again.reason == "opt-out"
        store.tombstone("+33612345678", "erase:test")
        assert store.is_suppressed("+33612345678") == ERASED
        assert s.query(SuppressionEntry).count() == 1


def test_pseudonymised_attempt_numbers_are_recognised_and_garbage_is_never_callable(db):
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        store.tombstone("+33612345678", "erase:test")
        assert store.is_suppressed("+33612345678") == ERASED
        assert store.is_suppressed(erased_token()) == ERASED          # an erased attempt
        # erased before tokens: the attempt holds the pseudonym, its tombstone is HMAC-keyed
        s.add(SuppressionEntry(number_hash=store.pseudonym("+33698765432"), reason=ERASED,
                               source="old"))
        assert store.is_suppressed(store.pseudonym("+33698765432")) == ERASED
        assert store.is_suppressed("not a number") == "invalid-number"
        # a pseudonym nobody suppressed is no number either: never callable
        assert store.is_suppressed("0" * 64) == "invalid-number"


def test_dial_check_names_why_an_attempt_must_not_be_dialled(db):
    class Attempt:
        def __init__(self, number):
            self.number = number
    check = dial_check(KEY)
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        store.add("+33612345678", "objection by letter", "cli")
        store.tombstone("+33623456789", "erase:test")
        assert check(s, Attempt("+33612345678")) == "suppressed"
        assert check(s, Attempt("+33623456789")) == ERASED
        assert check(s, Attempt(erased_token())) == ERASED
        assert check(s, Attempt("garbage")) == "invalid-number"
        assert check(s, Attempt("+33634567890")) is None


@pytest.mark.parametrize("reason, error", [("", "needs a reason"), ("erased", "reserved")])
def test_bad_reasons_are_refused(db, reason, error):
    with db.session() as s, pytest.raises(ConfigError, match=error):
        SuppressionStore(s, KEY).add("+33612345678", reason, "cli")


def test_add_wants_e164(db):
    with db.session() as s, pytest.raises(ConfigError, match="E.164"):
        SuppressionStore(s, KEY).add("0612345678", "objection", "cli")


def test_reasons_among_many(db):
    numbers = [f"+336{i:08d}" for i in range(1200)]
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        for n in numbers[::100]:
            store.add(n, "opt-out", "dtmf")
        assert store.reasons_among(numbers) == {n: "opt-out" for n in numbers[::100]}


def test_import_file_with_header_or_bare_numbers(db, tmp_path):
    with_header = tmp_path / "opposition.csv"
    with_header.write_text("Nom;Téléphone\nA;06 12 34 56 78\nB;+33 6 23 45 67 89\nC;3615\n"
                           "D;06 12 34 56 78\nE;08 92 12 34 56\n", encoding="cp1252")
    bare = tmp_path / "bare.txt"
    bare.write_text("0634567890\n\n+33623456789\nnope\n", encoding="utf-8")
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        first = store.import_file(with_header)
        assert (first.added, first.already, dict(first.rejected)) == (3, 1, {"too-short": 1})
        second = store.import_file(bare, reason="liste rouge")
        assert (second.added, second.already, dict(second.rejected)) == (
            1, 1, {"not-a-number": 1})
        assert store.is_suppressed("+33892123456") == "do-not-call"  # premium: still suppressed
        assert store.is_suppressed("+33634567890") == "liste rouge"
        entry = store.entry("+33612345678")
        assert entry.source == "file:opposition.csv"


def test_import_file_without_phone_column_imports_nothing(db, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("nom;ville\nA;Paris\n", encoding="utf-8")
    with db.session() as s, pytest.raises(ConfigError, match="no phone column"):
        SuppressionStore(s, KEY).import_file(path)


def test_check_rejects_what_is_not_a_number(db):
    with db.session() as s, pytest.raises(NumberRejected):
        SuppressionStore(s, KEY).check("12")


def test_add_typed_normalises_and_says_what_was_there(db):
    with db.session() as s:
        store = SuppressionStore(s, KEY)
        before, entry = store.add_typed("06 12 34 56 78", "objection", "cli:test")
        assert before.e164 == "+33612345678" and before.entry is None
        assert entry.reason == "objection"
        before, again = store.add_typed("0612345678", "other", "cli:test")
        assert before.entry.id == entry.id and again.id == entry.id
        before, _ = store.add_typed("0692 12 34 56", "objection", "cli:test", region="RE")
        assert before.e164 == "+262692123456"
        with pytest.raises(NumberRejected):
            store.add_typed("12", "objection", "cli:test")
        assert s.query(SuppressionEntry).count() == 2


def test_installation_key_file_is_private(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.upgrade()
    settings = Settings.load(db_url=db.url, home=tmp_path)
    key_init(settings, db)
    path = tmp_path / "secrets" / "installation-key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert load_key(settings, db) == path.read_text().strip()


def test_cli_add_import_and_check_exit_status(tmp_path, capsys):
    runner = CliRunner()
    base = ["--db", f"sqlite:///{tmp_path / 'cli.db'}", "--home", str(tmp_path)]
    assert runner.invoke(cli, base + ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(cli, base + ["suppress", "check", "06 12 34 56 78"])
    assert (result.exit_code, result.output) == (0, "+33612345678: not suppressed\n")

    result = runner.invoke(cli, base + ["suppress", "add", "06 12 34 56 78", "--reason",
                                        "lettre recommandée"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, base + ["suppress", "check", "+33612345678"])
    assert result.exit_code == 1
    assert result.output.startswith("+33612345678: suppressed (lettre recommandée, since ")
    assert len(result.output.splitlines()) == 1

    (tmp_path / "dnc.csv").write_text("telephone\n0623456789\n", encoding="utf-8")
    result = runner.invoke(cli, base + ["suppress", "import", str(tmp_path / "dnc.csv")])
    assert "1 suppressed" in result.output
    assert runner.invoke(cli, base + ["suppress", "check", "0623456789"]).exit_code == 1

    with pytest.raises(SystemExit) as exit_:       # through the console entry point
        main(base + ["suppress", "add", "0612", "--reason", "x"])
    assert exit_.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("Error: not a callable phone number (too-short) (write it as")
