"""``sc-asterisk contacts``: import and show through the command line."""
import csv

import pytest
from click.testing import CliRunner

from sc_asterisk.config import Settings
from sc_asterisk.keys import key_init
from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.db import Database


@pytest.fixture
def base(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    db.upgrade()
    key_init(Settings.load(db_url=url, home=tmp_path / "home"), db)
    return ["--db", url, "--home", str(tmp_path / "home")]


def test_import_summary_rejects_file_and_show(base, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes("Nom;Prénom;Portable;CP;Ville;Créneau horaire\n"
                     "Dupont;Élodie;06 12 34 56 78;75011;Paris;samedi 10h-12h\n"
                     "Prime;Un;08 92 12 34 56;75011;Paris;\n".encode("cp1252"))
    rejects = tmp_path / "rejets.csv"
    runner = CliRunner()
    result = runner.invoke(cli, base + ["contacts", "import", str(path), "--list", "nord",
                                        "--legal-basis", "consent", "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "liste.csv (csv, cp1252, ';'): import batch 1" in result.output
    assert "created 1, updated 0, unchanged 0, rejected 1" in result.output
    assert "rejected: premium-rate 1" in result.output
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        assert [row[:2] for row in csv.reader(f)][1:] == [["3", "premium-rate"]]

    again = runner.invoke(cli, base + ["contacts", "import", str(path), "--list", "nord",
                                       "--legal-basis", "consent"])
    assert "already imported: nothing new" in again.output
    assert "created 0, updated 0, unchanged 1" in again.output

    shown = runner.invoke(cli, base + ["contacts", "show", "+33 6 12 34 56 78"])
    assert shown.exit_code == 0, shown.output
    for line in ("e164: +33612345678", "last_name: Dupont", "legal_basis: consent",
                 "consent_slot: samedi 10h-12h", "suppression: none"):
        assert line in shown.output.splitlines()
    assert "provenance: batch 1 liste.csv list=nord lines 2-2" in shown.output


def test_errors_are_one_line_naming_the_fix(base, tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("nom;ville\nDupont;Paris\n", encoding="utf-8")
    cases = [
        (["contacts", "import", str(path)], "no phone column in x.csv (name one with --mapping"),
        (["contacts", "import", str(path), "--mapping", "nom"], "bad --mapping 'nom'"),
        (["contacts", "import", str(path), "--rejects", str(path)], "--rejects would overwrite"),
        (["contacts", "show", "0612345678"], "no contact with number 0612345678"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_:
            main(base + args)
        assert exit_.value.code == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("Error: " + message), line


@pytest.mark.parametrize("command", [["contacts", "import"], ["contacts", "show"],
                                     ["suppress", "add"], ["suppress", "import"],
                                     ["suppress", "check"], ["subject-export"], ["erase"],
                                     ["contacts"], ["suppress"]])
def test_every_command_documents_an_example(command):
    result = CliRunner().invoke(cli, command + ["--help"])
    assert result.exit_code == 0
    assert "Example: sc-asterisk " + " ".join(command[:1]) in result.output
