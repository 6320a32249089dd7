"""``sc-asterisk node`` through the console entry point; `node check` failures that need no
Asterisk (closed port, a port that is not AMI)."""
from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from sc_asterisk.config import Settings
from sc_asterisk.keys import KEY_FILE, key_path
from sc_asterisk.cli import main
from sc_asterisk.telecom.nodes import enabled_node_infos, get_node, node_info

AMI_SECRET = "ami-s3cret-7"


class Env:
    def __init__(self, tmp_path: Path, db):
        self.tmp, self.db, self.home = tmp_path, db, tmp_path / "home"
        # the installation's key (the db fixture recorded the test home's), copied 0600
        (self.home / "secrets").mkdir(parents=True, mode=0o700)
        shutil.copy2(key_path(Settings.load()), key_path(Settings.load(home=self.home)))

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str, str]:
        with CliRunner().isolation(input=input) as (out, err, _mixed):
            try:
                main(["--db", self.db.url, "--home", str(self.home), *args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()

    def node_args(self, name="n1", ami="127.0.0.1:5038", **over) -> list[str]:
        opts = {"--ami": ami, "--agi": "192.0.2.2:4573", "--sounds-dir": str(self.tmp / "snd"),
                "--asterisk-sounds-dir": "/var/lib/asterisk/sounds/sc",
                "--config-dir": str(self.tmp / "etc")}
        opts.update(over)
        return ["node", "add", name, *[x for kv in opts.items() for x in kv]]

    def secrets(self) -> list[str]:
        d = self.home / "secrets"
        return sorted(p.name for p in d.iterdir() if p.name != KEY_FILE) if d.exists() else []


@pytest.fixture
def sc(tmp_path, db):
    return Env(tmp_path, db)


def test_add_with_prompted_secret_keeps_it_private(sc, tmp_path):
    code, out, err = sc(*sc.node_args(), "--max-channels", "45", input=AMI_SECRET + "\n")
    assert code == 0, err
    path = sc.home / "secrets" / "node-n1"
    assert path.read_text().strip() == AMI_SECRET and path.stat().st_mode & 0o777 == 0o600
    assert AMI_SECRET.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("test.db*"))
    code, out, _ = sc("node", "show", "n1")
    assert code == 0 and AMI_SECRET not in out and "********" in out
    assert "max channels         45" in out
    assert "n1" in sc("node", "list")[1]


def test_node_info_reads_the_secret_and_picks_the_trunk(sc, tmp_path):
    secret = tmp_path / "ami.txt"
    secret.write_text(AMI_SECRET + "\n")
    assert sc("trunk", "add", "zeta", "--host", "192.0.2.9")[0] == 0
    assert sc("trunk", "add", "alpha", "--host", "192.0.2.8")[0] == 0
    code, _out, err = sc(*sc.node_args(ami="10.0.0.5"), "--ami-secret-file", str(secret),
                         "--trunk", "zeta", "--trunk", "alpha")
    assert code == 0, err
    with sc.db.session() as s:
        node = get_node(s, "n1")
        info = node_info(node)
        assert node_info(node, "zeta").trunk_endpoint == "zeta"
    assert info.ami_secret == AMI_SECRET and info.ami_host == "10.0.0.5" and info.ami_port == 5038
    assert info.agi_host == "192.0.2.2" and info.trunk_endpoint == "alpha"   # first by name
    assert info.asterisk_sounds_dir == "/var/lib/asterisk/sounds/sc"
    # A disabled trunk is not carried.
    assert sc("trunk", "edit", "alpha", "--disable")[0] == 0
    with sc.db.session() as s:
        assert node_info(get_node(s, "n1")).trunk_endpoint == "zeta"
        assert [i.name for i in enabled_node_infos(s)] == ["n1"]
    # What `serve` drives: a disabled node is left out.
    assert sc("node", "edit", "n1", "--disable")[0] == 0
    with sc.db.session() as s:
        assert enabled_node_infos(s) == []


def test_the_nodes_cel_log_reaches_the_controller(sc, tmp_path):
    """Issue 14: a node of the table can name its CEL log; the controller reads it (NodeInfo)
    to settle a dead controller's calls; an edit changes or forgets it."""
    cel = str(tmp_path / "log" / "sc-cel.json")
    code, _out, err = sc(*sc.node_args(), "--cel-file", cel, input="x-secret\n")
    assert code == 0, err
    with sc.db.session() as s:
        assert node_info(get_node(s, "n1")).cel_file == cel
        assert [i.cel_file for i in enabled_node_infos(s)] == [cel]
    assert cel in sc("node", "show", "n1")[1]
    code, _out, err = sc("node", "edit", "n1", "--cel-file", "relative/sc-cel.json")
    assert code != 0 and "CEL file" in err and "absolute path" in err
    assert sc("node", "edit", "n1", "--cel-file", "")[0] == 0
    with sc.db.session() as s:
        assert node_info(get_node(s, "n1")).cel_file is None


def test_edit_and_remove(sc, tmp_path):
    assert sc(*sc.node_args(), input="x-secret\n")[0] == 0
    new_secret = tmp_path / "new.txt"
    new_secret.write_text("y-secret\n")
    code, _out, err = sc("node", "edit", "n1", "--max-channels", "90", "--ami-secret-file",
                         str(new_secret), "--disable")
    assert code == 0, err
    out = sc("node", "show", "n1")[1]
    assert "max channels         90" in out and "enabled              no" in out
    assert (sc.home / "secrets" / "node-n1").read_text().strip() == "y-secret"
    assert sc("node", "remove", "n1", "--yes")[0] == 0
    assert sc.secrets() == [] and "no node yet" in sc("node", "list")[1]


@pytest.mark.parametrize("over", [
    {"--ami": "10.0.0.1\n[evil]"}, {"--ami": "10.0.0.1;x"}, {"--agi": "10.0.0.1:x"},
    {"--agi": "evil host"}, {"--asterisk-sounds-dir": "/x;y"},
    {"--asterisk-sounds-dir": "/x\n[evil]"}, {"--asterisk-sounds-dir": "relative"},
    {"--sounds-dir": "relative"}, {"--config-dir": "/x\ny"}, {"--ami-user": "u;x"},
    {"--ami-user": "u\n[evil]"}, {"--max-channels": "0"},
])
def test_injection_in_every_field_is_refused_and_nothing_written(sc, over):
    code, _out, err = sc(*sc.node_args(**over), input="fine-secret\n")
    assert code == 2, err
    assert sc.secrets() == [] and "no node yet" in sc("node", "list")[1]


@pytest.mark.parametrize("name", ["a;b", "a\n[x]", "-a", "a b"])
def test_bad_node_names_are_refused(sc, name):
    code, _out, _err = sc(*sc.node_args(name=name), input="fine-secret\n")
    assert code == 2 and sc.secrets() == []


@pytest.mark.parametrize("secret", ["p;w", "p[w]", "p\"w", "p w"])
def test_unsafe_ami_secret_is_refused(sc, secret):
    code, _out, err = sc(*sc.node_args(), input=secret + "\n")
    assert code == 2 and secret not in err and sc.secrets() == []


def test_check_on_a_closed_port_fails_in_one_line(sc):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert sc(*sc.node_args(ami=f"127.0.0.1:{port}"), input="x-secret\n")[0] == 0
    code, out, err = sc("node", "check", "n1", "--timeout", "2")
    assert code == 1 and out == ""
    assert err.strip() == (f"node n1: FAILED: AMI port 127.0.0.1:{port} is closed (connection "
                           "refused) (check that Asterisk runs and manager.conf binds this "
                           "address)")


def test_check_on_a_port_that_is_not_ami_fails_in_one_line(sc):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer_http():
        conn, _ = server.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer_http, daemon=True)
    thread.start()
    try:
        assert sc(*sc.node_args(ami=f"127.0.0.1:{port}"), input="x-secret\n")[0] == 0
        code, _out, err = sc("node", "check", "n1", "--timeout", "2")
    finally:
        thread.join(5)
        server.close()
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "is not an Asterisk manager port" in err


def test_every_node_command_has_help_with_an_example():
    from sc_asterisk.cli.node import node
    for name, command in node.commands.items():
        assert "Example:" in (command.help or ""), name
