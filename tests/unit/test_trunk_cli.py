"""``sc-asterisk trunk`` through the console entry point, on a temporary SQLite database."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sc_asterisk.asterisk_conf.trunks import MARKER
from sc_asterisk.cli import main
from sc_asterisk.telecom.apply import write_owned
from sc_asterisk.errors import ConfigError

SECRET = "Sup3r-s3cret.42"
AMI_SECRET = "ami-s3cret-7"


class Env:
    def __init__(self, tmp_path: Path, db):
        self.tmp, self.url = tmp_path, db.url
        self.home = tmp_path / "home"
        self.config_dir = tmp_path / "node-etc"
        self.config_dir.mkdir()

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str, str]:
        """Run ``sc-asterisk ARGS``; returns (exit status, stdout, stderr)."""
        with CliRunner().isolation(input=input) as (out, err, _mixed):
            try:
                main(["--db", self.url, "--home", str(self.home), *args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()

    def secrets(self) -> list[str]:
        d = self.home / "secrets"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    def stored_bytes(self) -> bytes:
        """Every byte the database holds on disk (the SQLite file and its WAL)."""
        return b"".join(p.read_bytes() for p in self.tmp.glob("test.db*"))

    def add_node(self, name: str = "n1", ami_port: int = 1) -> None:
        secret = self.tmp / f"{name}.ami"
        secret.write_text(AMI_SECRET + "\n")
        code, _out, err = self(
            "node", "add", name, "--ami", f"127.0.0.1:{ami_port}", "--ami-secret-file",
            str(secret), "--agi", "127.0.0.1:4573", "--sounds-dir", str(self.tmp / "sounds"),
            "--asterisk-sounds-dir", "/var/lib/asterisk/sounds/sc",
            "--config-dir", str(self.config_dir))
        assert code == 0, err


@pytest.fixture
def sc(tmp_path, db):
    return Env(tmp_path, db)


def add_acme(sc, *extra: str):
    return sc("trunk", "add", "acme", "--host", "192.0.2.10:5080", "--username", "0123",
              "--register", "--match", "192.0.2.0/24", *extra, input=f"{SECRET}\n{SECRET}\n")


def test_add_stores_the_secret_in_a_private_file_only(sc):
    sc.add_node()
    code, out, err = add_acme(sc, "--node", "n1", "--rate-per-minute", "0.0125")
    assert code == 0, err
    assert "carried by n1" in out
    path = sc.home / "secrets" / "trunk-acme"
    assert path.read_text().strip() == SECRET
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert SECRET.encode() not in sc.stored_bytes()
    for command in (("trunk", "show", "acme"), ("trunk", "list")):
        code, out, _ = sc(*command)
        assert code == 0 and SECRET not in out
    _, out, _ = sc("trunk", "show", "acme")
    assert "********" in out and "192.0.2.10:5080" in out and "0.01250" in out
    assert "nodes              n1" in out


def test_secret_from_a_file(sc, tmp_path):
    secret_file = tmp_path / "sip.txt"
    secret_file.write_text(SECRET + "\n")
    code, _out, err = sc("trunk", "add", "acme", "--host", "sip.example.net", "--username", "u",
                         "--secret-file", str(secret_file))
    assert code == 0, err
    assert (sc.home / "secrets" / "trunk-acme").read_text().strip() == SECRET


def test_duplicate_name_is_refused_whatever_the_case(sc):
    assert add_acme(sc)[0] == 0
    code, _out, err = sc("trunk", "add", "ACME", "--host", "192.0.2.11")
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_edit_changes_only_what_is_given(sc):
    assert add_acme(sc)[0] == 0
    code, _out, err = sc("trunk", "edit", "acme", "--cps", "12", "--codecs", "alaw")
    assert code == 0, err
    _, out, _ = sc("trunk", "show", "acme")
    assert "cps                12" in out and "codecs             alaw\n" in out
    assert "register           yes" in out and "192.0.2.10:5080" in out
    # Dropping the account drops the secret file too.
    code, _out, err = sc("trunk", "edit", "acme", "--username", "", "--no-register")
    assert code == 0, err
    assert sc.secrets() == []


def test_remove_deletes_the_secret(sc):
    assert add_acme(sc)[0] == 0
    code, _out, err = sc("trunk", "remove", "acme", "--yes")
    assert code == 0, err
    assert sc.secrets() == [] and "no trunk yet" in sc("trunk", "list")[1]


INJECTIONS = [
    ("name", ["a;b"]), ("name", ["a\n[evil]"]),
    ("host", ["--host", "192.0.2.1\n[evil]"]), ("host", ["--host", "192.0.2.1;x"]),
    ("username", ["--username", "u;x"]), ("username", ["--username", "u\n[evil]"]),
    ("match", ["--match", "10.0.0.0/8\n[evil]"]), ("match", ["--match", "10.0.0.0/8;"]),
    ("codecs", ["--codecs", "alaw\n[evil]"]), ("codecs", ["--codecs", "alaw;x"]),
    ("dial-prefix", ["--dial-prefix", "00;x"]), ("rate", ["--rate-per-minute", "0.1\n"]),
    ("node", ["--node", "n1\n[evil]"]), ("transport", ["--transport", "udp\n[evil]"]),
    ("caller-id-policy", ["--caller-id-policy", "from;x"]),
    ("secret", ["--secret-file", "SECRET:p;w"]), ("secret", ["--secret-file", "SECRET:p[w]"]),
    ("secret", ["--secret-file", 'SECRET:p"w']),
]


@pytest.mark.parametrize("field,args", INJECTIONS, ids=[f"{f}-{i}" for i, (f, _) in
                                                        enumerate(INJECTIONS)])
def test_injection_in_every_field_is_refused_and_nothing_written(sc, tmp_path, field, args):
    sc.add_node()
    before = sc.secrets()
    name = args[0] if field == "name" else "evil"
    opts = args[1:] if field == "name" else list(args)
    if opts and opts[-1].startswith("SECRET:"):
        secret_file = tmp_path / "secret.txt"
        secret_file.write_text(opts[-1][len("SECRET:"):] + "\n")
        opts[-1] = str(secret_file)
    if "--host" not in opts:
        opts += ["--host", "192.0.2.1"]
    if "--username" not in opts:
        opts += ["--username", "u"]
    if "--secret-file" not in opts:
        opts += ["--secret-file", str(_good_secret(tmp_path))]
    code, _out, err = sc("trunk", "add", name, *opts, "--node", "n1")
    assert code != 0, err
    assert sc.secrets() == before          # no trunk secret file
    assert "no trunk yet" in sc("trunk", "list")[1]
    assert list(sc.config_dir.iterdir()) == []


def test_injection_through_edit_leaves_the_trunk_unchanged(sc, tmp_path):
    assert add_acme(sc)[0] == 0
    _, before, _ = sc("trunk", "show", "acme")
    secret_before = (sc.home / "secrets" / "trunk-acme").read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text("x;y\n")
    for args in (["--host", "1.2.3.4\n[x]"], ["--match", "1.2.3.0/24;"],
                 ["--secret-file", str(bad)], ["--dial-prefix", "[x]"]):
        code, _out, err = sc("trunk", "edit", "acme", *args)
        assert code == 2, err
    assert sc("trunk", "show", "acme")[1] == before
    assert (sc.home / "secrets" / "trunk-acme").read_bytes() == secret_before


def test_apply_never_replaces_a_file_it_did_not_write(sc):
    sc.add_node()
    assert add_acme(sc, "--node", "n1")[0] == 0
    theirs = sc.config_dir / "sc-trunks.conf"
    theirs.write_text("[my-own]\ntype = endpoint\n")
    code, _out, err = sc("trunk", "apply")
    assert code == 2 and "was not written by sc-asterisk" in err
    assert len(err.strip().splitlines()) == 1
    assert theirs.read_text() == "[my-own]\ntype = endpoint\n"


def test_apply_writes_then_reports_an_unreachable_node_in_one_line(sc):
    sc.add_node(ami_port=_closed_port())
    assert add_acme(sc, "--node", "n1")[0] == 0
    code, _out, err = sc("trunk", "apply", "--node", "n1")
    assert code == 2 and "closed (connection refused)" in err
    assert len(err.strip().splitlines()) == 1
    written = sc.config_dir / "sc-trunks.conf"
    assert written.read_text().startswith(MARKER) and "[acme-reg]" in written.read_text()
    assert written.stat().st_mode & 0o777 == 0o640


def test_write_owned_is_atomic_and_refuses_links(tmp_path):
    target = tmp_path / "sc-trunks.conf"
    write_owned(target, MARKER + "\n; one\n")
    write_owned(target, MARKER + "\n; two\n")
    assert target.read_text().endswith("; two\n")
    assert [p.name for p in tmp_path.iterdir()] == ["sc-trunks.conf"]   # no temp file left
    link = tmp_path / "link.conf"
    os.symlink(target, link)
    with pytest.raises(ConfigError):
        write_owned(link, MARKER + "\n")
    with pytest.raises(ConfigError):
        write_owned(tmp_path / "x.conf", "[no marker]\n")


def test_every_trunk_command_has_help_with_an_example():
    from sc_asterisk.cli.trunk import trunk
    for name, command in trunk.commands.items():
        assert "Example:" in (command.help or ""), name


def _good_secret(tmp_path: Path) -> Path:
    path = tmp_path / "good.txt"
    path.write_text("fine-secret\n")
    return path


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
