"""``sc-asterisk audio``: import and list through the real command line, on a temporary SQLite db."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from sc_asterisk.cli import main
from sc_asterisk.cli.audio import audio as audio_group
from sc_asterisk.cli.common import cli
from sc_asterisk.db import AudioAsset, Database
from sc_asterisk.paths import SOUNDS_DIR

INTRO = SOUNDS_DIR / "optout-intro.wav"
CONFIRM = SOUNDS_DIR / "optout-confirm.wav"


@pytest.fixture
def db_args(tmp_path: Path) -> list[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    Database(url).upgrade()
    return ["--db", url, "--home", str(tmp_path / "home")]


def run(db_args: list[str], *args: str):
    result = CliRunner().invoke(cli, [*db_args, "audio", *args], catch_exceptions=False)
    return result


def run_main(capsys, db_args: list[str], *args: str) -> tuple[int, str]:
    """Through the console entry point, which turns domain errors into one line."""
    with pytest.raises(SystemExit) as exit_:
        main([*db_args, "audio", *args])
    return exit_.value.code, capsys.readouterr().err


def test_import_prints_name_duration_and_sha_prefix(db_args):
    result = run(db_args, "import", str(INTRO), "--name", "intro")
    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"imported intro: (\d+) ms, sha256 ([0-9a-f]{16})\n", result.output)
    assert match, result.output
    assert abs(int(match[1]) - 4220) <= 1  # the shipped prompt's own length


def test_reimport_same_file_reports_unchanged(db_args):
    first = run(db_args, "import", str(INTRO), "--name", "intro")
    again = run(db_args, "import", str(INTRO), "--name", "intro")
    assert again.exit_code == 0
    assert again.output == first.output.replace("imported", "unchanged", 1)


def test_other_file_under_taken_name_is_refused_then_replaced(db_args, capsys):
    run(db_args, "import", str(INTRO), "--name", "intro")

    code, err = run_main(capsys, db_args, "import", str(CONFIRM), "--name", "intro")
    assert code == 2
    assert err.count("\n") == 1 and "already exists" in err and "--replace" in err

    replaced = run(db_args, "import", str(CONFIRM), "--name", "intro", "--replace")
    assert replaced.exit_code == 0
    assert replaced.output.startswith("replaced intro: ")

    listing = run(db_args, "list").output.splitlines()
    assert len(listing) == 2 and "optout-confirm.wav" in listing[1]


def test_list_shows_every_prompt_sorted(db_args):
    run(db_args, "import", str(INTRO), "--name", "zz-intro")
    run(db_args, "import", str(CONFIRM), "--name", "confirm")

    lines = run(db_args, "list").output.splitlines()

    assert lines[0].split() == ["name", "ms", "sha256", "source"]
    assert [line.split()[0] for line in lines[1:]] == ["confirm", "zz-intro"]
    assert lines[2].split()[3] == "optout-intro.wav"


def test_list_on_empty_database_says_how_to_import(db_args):
    result = CliRunner().invoke(cli, [*db_args, "audio", "list"])
    assert result.exit_code == 0
    assert "audio import" in result.output


def test_garbage_file_is_one_line_error_and_stores_nothing(db_args, tmp_path, capsys):
    garbage = tmp_path / "message.mp3"
    garbage.write_bytes(os.urandom(1024))

    code, err = run_main(capsys, db_args, "import", str(garbage), "--name", "message")

    assert code == 2
    assert err.startswith("Error: message.mp3 is not readable audio") and err.count("\n") == 1
    with Database(db_args[1]).session() as s:
        assert s.scalar(select(func.count()).select_from(AudioAsset)) == 0


def test_bad_name_is_refused_with_the_rule(db_args, capsys):
    code, err = run_main(capsys, db_args, "import", str(INTRO), "--name", "Mon Message")
    assert code == 2
    assert "invalid audio name 'Mon Message'" in err and "a-z 0-9" in err


def test_database_without_schema_names_the_upgrade(tmp_path, capsys):
    args = ["--db", f"sqlite:///{tmp_path / 'empty.db'}", "--home", str(tmp_path)]
    code, err = run_main(capsys, args, "list")
    assert code == 2 and "db upgrade" in err


def test_every_audio_command_has_help_with_an_example():
    for command in [audio_group, *audio_group.commands.values()]:
        assert "Example:" in (command.help or ""), command.name
