"""Finding 1 of issue 13: one installation key, checked against the database, never made on
first read. Two homes against one database must not key suppressions twice."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sc_asterisk.config import Settings
from sc_asterisk.contacts.suppression import dial_check
from sc_asterisk.db import CallAttempt, Database
from sc_asterisk.db.models import ControllerLease
from sc_asterisk.db.models_privacy import SuppressionEntry
from sc_asterisk.errors import ConfigError
from sc_asterisk.keys import key_init, key_path, load_key
from sc_asterisk.nodes import NodeInfo

NUMBER = "+33612345678"


def sc(url: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    """The real console entry point, as an operator runs it (exit status, stderr)."""
    env = {**os.environ, "SC_ASTERISK_HOME": str(home), "SC_ASTERISK_DB": url}
    return subprocess.run([sys.executable, "-m", "sc_asterisk", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ")
    return line


@pytest.fixture
def installed(tmp_path):
    """`db upgrade` of a fresh database in home A: the one command of a fresh install."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    home_a = tmp_path / "service-home"
    done = sc(url, home_a, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "created installation key" in done.stdout
    return url, home_a, tmp_path / "root-home"


def suppressions(url: str) -> int:
    with Database(url).session() as s:
        return s.scalar(select(func.count()).select_from(SuppressionEntry))


def test_a_second_home_cannot_fork_the_key_and_suppress_where_the_service_never_looks(installed):
    """The fork: the service runs with home A; an admin runs `suppress add` with home B against
    the same database. Before the fix B got a fresh key and wrote an entry the service never
    found ("not suppressed"). Now B is refused, in one line naming the fix, and writes nothing."""
    url, home_a, home_b = installed
    refused = sc(url, home_b, "suppress", "add", NUMBER, "--reason", "letter")
    line = one_line_error(refused)
    assert str(key_path(Settings.load(home=home_b))) in line
    assert f"run with SC_ASTERISK_HOME={home_a}, the installation's home, or copy its key" in line
    assert not key_path(Settings.load(home=home_b)).exists()      # no key made on the way
    assert suppressions(url) == 0
    # a key of its own in home B: refused as a mismatch, naming the installation's home
    key_path(Settings.load(home=home_b)).parent.mkdir(parents=True)
    key_path(Settings.load(home=home_b)).write_text("f" * 64 + "\n")
    line = one_line_error(sc(url, home_b, "suppress", "add", NUMBER, "--reason", "letter"))
    assert "does not match the database's" in line and f"SC_ASTERISK_HOME={home_a}" in line
    assert suppressions(url) == 0
    # the installation's home suppresses, and the service's dial check sees it
    assert sc(url, home_a, "suppress", "add", NUMBER, "--reason", "letter").returncode == 0
    db = Database(url)
    key = load_key(Settings.load(db_url=url, home=home_a), db)
    with db.session() as s:
        assert dial_check(key)(s, CallAttempt(number=NUMBER)) == "suppressed"


def test_every_key_using_command_refuses_a_foreign_key(installed):
    url, home_a, home_b = installed
    key_path(Settings.load(home=home_b)).parent.mkdir(parents=True)
    key_path(Settings.load(home=home_b)).write_text("e" * 64 + "\n")
    for args in (["suppress", "check", NUMBER], ["contacts", "show", NUMBER],
                 ["erase", NUMBER, "--yes"], ["subject-export", NUMBER],
                 ["cdr", "export", "-o", "-"], ["report", "nope"]):
        result = sc(url, home_b, *args)
        assert "does not match the database's" in one_line_error(result), args


def test_key_init_twice_is_safe_and_never_replaces_a_key(installed, tmp_path):
    url, home_a, home_b = installed
    path = key_path(Settings.load(home=home_a))
    key = path.read_text()
    again = sc(url, home_a, "key", "init")
    assert again.returncode == 0 and "matches the database" in again.stdout
    assert path.read_text() == key
    # home B has no key: init refuses to make one for a database that has its key already
    line = one_line_error(sc(url, home_b, "key", "init"))
    assert "copy the installation's key" in line and f"SC_ASTERISK_HOME={home_a}" in line
    assert not key_path(Settings.load(home=home_b)).exists()


def test_an_old_database_without_check_value_is_refused_until_key_init(tmp_path):
    """A database made before revision 0007 has no check value: refused, then `key init` with
    the installation's key file records it (and will not make a new key over keyed data)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    db.upgrade()                                   # no key init: as an upgraded installation
    home = tmp_path / "home"
    with db.session() as s:
        s.add(SuppressionEntry(number_hash="a" * 64, reason="letter", source="old"))
    line = one_line_error(sc(url, home, "key", "init"))
    assert "holds suppressions keyed with one" in line
    path = key_path(Settings.load(home=home))
    path.parent.mkdir(parents=True)
    path.write_text("d" * 64 + "\n")               # the installation's existing key
    assert "check value" in one_line_error(sc(url, home, "suppress", "check", NUMBER))
    assert sc(url, home, "key", "init").returncode == 0
    assert sc(url, home, "suppress", "check", NUMBER).returncode == 0


def test_settings_secret_no_longer_makes_the_installation_key(tmp_path):
    with pytest.raises(ValueError):
        Settings.load(home=tmp_path).secret("installation-key")
    assert not (tmp_path / "secrets" / "installation-key").exists()


def test_serve_refuses_a_key_that_does_not_match(installed, tmp_path):
    url, home_a, home_b = installed
    secret = tmp_path / "ami.txt"
    secret.write_text("ami-s3cret-7\n")
    added = sc(url, home_a, "node", "add", "n1", "--ami", "127.0.0.1:1", "--agi",
               "127.0.0.1:4573", "--sounds-dir", str(tmp_path / "snd"),
               "--asterisk-sounds-dir", "/var/lib/asterisk/sounds/sc",
               "--config-dir", str(tmp_path / "etc"), "--ami-secret-file", str(secret))
    assert added.returncode == 0, added.stderr
    key_path(Settings.load(home=home_b)).parent.mkdir(parents=True)
    key_path(Settings.load(home=home_b)).write_text("c" * 64 + "\n")
    line = one_line_error(sc(url, home_b, "serve"))
    assert "does not match the database's" in line


def test_controller_start_refuses_a_key_passed_in_that_does_not_match(db, tmp_path):
    from sc_asterisk.service import Controller
    node = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 0, str(tmp_path / "snd"),
                    "/snd", "lab")
    async def main():
        controller = Controller(db, node, key="not-the-installation-key",
                                journal_dir=tmp_path / "journal")
        try:
            await controller.start()
        finally:
            await controller.worker.close()

    with pytest.raises(ConfigError, match="does not match"):
        asyncio.run(main())
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ControllerLease)) == 0


def _down_and_up(db: Database) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from sc_asterisk.keys import record_key
    from sc_asterisk.paths import MIGRATIONS_DIR
    record_key(db, "k" * 64, "somewhere")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_calls")
    assert "installation" not in inspect(db.engine).get_table_names()
    db.upgrade()
    assert "installation" in inspect(db.engine).get_table_names()


def test_migration_0007_goes_down_and_up_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    _down_and_up(db)


@pytest.mark.postgres
def test_migration_0007_goes_down_and_up_on_postgresql():
    from test_node_models import postgres_database
    with postgres_database() as url:
        db = Database(url)
        try:
            db.upgrade()
            _down_and_up(db)
        finally:
            db.engine.dispose()
