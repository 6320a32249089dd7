"""Finding 11 of issue 13 (in part): an unreachable database and a port in use each give one
line that names the fix, exit status 2, never a traceback. Run as an operator would: the
console entry point in a subprocess."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def sc(home, *args: str, db: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SC_ASTERISK_HOME": str(home)}
    env.pop("SC_ASTERISK_DB", None)
    argv = [sys.executable, "-m", "sc_asterisk", *(["--db", db] if db else []), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    # `serve` logs at INFO before it fails: the error is the one last line
    assert [x for x in lines if x.startswith("Error")] == lines[-1:], lines
    return lines[-1]


@pytest.mark.parametrize("args", [["db", "upgrade"], ["suppress", "check", "+33612345678"],
                                  ["campaign", "list"]])
def test_an_unreachable_postgresql_is_one_line_naming_the_fix(tmp_path, args):
    line = one_line(sc(tmp_path / "home", *args, db="postgresql://nobody@127.0.0.1:1/x"))
    assert line.startswith("Error: cannot reach the database postgresql://nobody@127.0.0.1:1/x")
    assert "check --db or SC_ASTERISK_DB" in line


def test_a_sqlite_file_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "plain-file").write_text("")
    line = one_line(sc(tmp_path / "home", "db", "upgrade",
                       db=f"sqlite:///{tmp_path / 'plain-file' / 'sc.db'}"))
    assert line.startswith("Error: ") and "plain-file" in line


@pytest.fixture
def installation(tmp_path):
    """A fresh installation with one node whose FastAGI port is *port* (free for now)."""
    home, db = tmp_path / "home", f"sqlite:///{tmp_path / 'sc.db'}"
    assert sc(home, "db", "upgrade", db=db).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = tmp_path / "ami.txt"
    secret.write_text("ami-s3cret-7\n")
    added = sc(home, "node", "add", "n1", "--ami", "127.0.0.1:1", "--agi", f"127.0.0.1:{port}",
               "--sounds-dir", str(tmp_path / "snd"), "--asterisk-sounds-dir", "/snd",
               "--config-dir", str(tmp_path / "etc"), "--ami-secret-file", str(secret), db=db)
    assert added.returncode == 0, added.stderr
    return home, db, port


def test_serve_on_an_agi_port_in_use_names_the_port_and_the_option(installation):
    home, db, port = installation
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        line = one_line(sc(home, "serve", db=db))
    assert line == (f"Error: the FastAGI port 127.0.0.1:{port} is already in use (choose "
                    "another with --agi-port, or stop what listens there)")


def test_serve_on_a_metrics_port_in_use_names_the_port_and_the_option(installation):
    home, db, _port = installation
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = taken.getsockname()[1]
        line = one_line(sc(home, "serve", "--metrics-port", str(metrics), db=db))
    assert line == (f"Error: the metrics port 127.0.0.1:{metrics} is already in use (choose "
                    "another with --metrics-port, or stop what listens there)")
