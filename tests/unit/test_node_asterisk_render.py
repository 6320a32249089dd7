"""``sc-asterisk asterisk render``: the include files for an existing Asterisk, and the complete
configuration for a dedicated one, from the renderer the lab runs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from asterisk.config import Config  # pyst2's parser: an independent reader
from click.testing import CliRunner

from sc_asterisk.keys import key_path, read_key
from sc_asterisk.asterisk_conf import NodeConfig, render
from sc_asterisk.asterisk_conf.kit import render_kit
from sc_asterisk.asterisk_conf.render import AMI_READ_CLASSES, AMI_WRITE_CLASSES
from sc_asterisk.asterisk_conf.trunks import MARKER
from sc_asterisk.agi import derive_token
from sc_asterisk.cli import main
from sc_asterisk.config import Settings
from sc_asterisk.errors import ConfigError

AMI_SECRET = "ami-s3cret-7"
KIT = {"sc-manager.conf", "sc-globals.conf", "sc-dialplan.conf", "sc-trunks.conf", "cel.conf",
       "cel_custom.conf"}


@pytest.fixture
def sc(tmp_path, db):
    # the installation's key (the db fixture recorded the test home's), copied 0600
    (tmp_path / "home" / "secrets").mkdir(parents=True, mode=0o700)
    shutil.copy2(key_path(Settings.load()), key_path(Settings.load(home=tmp_path / "home")))
    def run(*args, input=None):
        with CliRunner().isolation(input=input) as (out, err, _mixed):
            try:
                main(["--db", db.url, "--home", str(tmp_path / "home"), *args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()

    code, _out, err = run("node", "add", "paris-1", "--ami", "10.0.0.5", "--agi",
                          "10.0.0.2:4573", "--sounds-dir", str(tmp_path / "snd"),
                          "--asterisk-sounds-dir", "/var/lib/asterisk/sounds/sc",
                          "--config-dir", str(tmp_path / "etc"), input=AMI_SECRET + "\n")
    assert code == 0, err
    assert run("trunk", "add", "acme", "--host", "192.0.2.10", "--node", "paris-1")[0] == 0
    return run


def parse(path: Path) -> dict[str, dict[str, str]]:
    return {c.name: {v.name.strip(): v.value.strip() for v in c.items}
            for c in Config(str(path)).categories}


def test_kit_for_an_existing_asterisk(sc, tmp_path):
    out = tmp_path / "kit"
    code, stdout, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(out))
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == KIT
    for path in out.iterdir():
        assert path.read_text().startswith(MARKER)
        assert path.stat().st_mode & 0o777 == 0o640
    user = parse(out / "sc-manager.conf")["sc-controller"]
    assert user["secret"] == AMI_SECRET
    assert set(user["read"].split(",")) == set(AMI_READ_CLASSES) == {"call", "cdr", "system"}
    assert set(user["write"].split(",")) == set(AMI_WRITE_CLASSES)
    # Only the controller may log in: its address, as the node reaches it for FastAGI.
    assert user["deny"] == "0.0.0.0/0.0.0.0" and user["permit"] == "10.0.0.2/255.255.255.255"
    globals_ = (out / "sc-globals.conf").read_text()
    # the installation's FastAGI token (from the key under --home), never the key itself
    key = read_key(Settings.load(home=tmp_path / "home"))
    assert f"SC_AGI = agi://10.0.0.2:4573/{derive_token(key)}\n" in globals_
    assert key not in globals_ and "SC_NODE = paris-1\n" in globals_
    assert "SC_SOUNDS = /var/lib/asterisk/sounds/sc\n" in globals_
    assert "[" not in globals_.replace("[globals]", "")   # lines for inside [globals] only
    assert "[sc-broadcast]" in (out / "sc-dialplan.conf").read_text()
    assert "[acme]" in (out / "sc-trunks.conf").read_text()
    assert "#include sc-manager.conf" in stdout and "#tryinclude sc-trunks.conf" in stdout


def test_kit_pieces_are_the_lab_files_pieces():
    cfg = NodeConfig(node="n1", etc_dir="/e", run_dir="/r", log_dir="/l", lib_dir="/b",
                     spool_dir="/s", ami_secret="k3y", agi_host="10.0.0.2", sounds_dir="/snd",
                     agi_token="t0k")
    full, kit = render(cfg), render_kit(cfg)
    user = kit["sc-manager.conf"].split("\n[", 1)[1]
    assert "\n[" + user.rstrip("\n") in full["manager.conf"]
    globals_ = kit["sc-globals.conf"].split("#include sc-globals.conf\n", 1)[1]
    assert "[globals]\n" + globals_ in full["extensions.conf"]


def test_controller_network_and_bad_address(sc, tmp_path):
    out = tmp_path / "kit"
    assert sc("asterisk", "render", "--node", "paris-1", "--out", str(out),
              "--controller", "172.28.0.0/16")[0] == 0
    assert parse(out / "sc-manager.conf")["sc-controller"]["permit"] == "172.28.0.0/255.255.0.0"
    code, _out, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(tmp_path / "x"),
                         "--controller", "controller.local")
    assert code == 2 and "not an IP address" in err
    assert not (tmp_path / "x").exists() or list((tmp_path / "x").iterdir()) == []


def test_full_configuration_for_a_dedicated_asterisk(sc, tmp_path):
    out = tmp_path / "etc"
    code, _out, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(out), "--full",
                         "--controller", "172.28.0.0/16", "--sip-bind", "0.0.0.0:5060")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"asterisk.conf", "manager.conf", "pjsip.conf", "extensions.conf", "modules.conf",
            "sc-dialplan.conf", "sc-trunks.conf"} <= names
    manager = parse(out / "manager.conf")
    assert manager["general"]["bindaddr"] == "0.0.0.0"
    assert manager["sc-controller"]["permit"] == "172.28.0.0/255.255.0.0"
    assert parse(out / "asterisk.conf")["directories"]["astetcdir"] == "/etc/asterisk"
    assert "#tryinclude sc-trunks.conf" in (out / "pjsip.conf").read_text()
    assert '#include "/etc/asterisk/sc-dialplan.conf"' in (out / "extensions.conf").read_text()


def test_never_overwrites_a_file_it_did_not_write(sc, tmp_path):
    out = tmp_path / "etc"
    out.mkdir()
    (out / "manager.conf").write_text("[general]\nenabled = no\n")
    code, _out, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(out), "--full")
    assert code == 2 and "manager.conf was not written by sc-asterisk" in err
    assert [p.name for p in out.iterdir()] == ["manager.conf"]     # nothing else written
    assert (out / "manager.conf").read_text() == "[general]\nenabled = no\n"


def test_a_value_with_a_trailing_newline_is_unsafe():
    cfg = NodeConfig(node="n1", etc_dir="/e", run_dir="/r", log_dir="/l", lib_dir="/b",
                     spool_dir="/s", ami_secret="k3y\n", agi_token="t0k")
    with pytest.raises(ConfigError):
        render_kit(cfg)


def test_render_command_has_help_with_an_example():
    from sc_asterisk.cli.asterisk import asterisk_group
    for name, command in asterisk_group.commands.items():
        assert "Example:" in (command.help or ""), name


def test_other_controllers_are_rendered_into_the_globals_with_the_token(sc, tmp_path):
    """Issue 14: a call whose controller is lost mid-call is resumed by another one of the
    installation, found in SC_AGI_ALL; a bad address is refused before anything is written."""
    out = tmp_path / "kit"
    code, _out, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(out),
                         "--also-controller", "10.0.0.3:4573")
    assert code == 0, err
    token = derive_token(read_key(Settings.load(home=tmp_path / "home")))
    assert (f"SC_AGI_ALL = agi://10.0.0.2:4573/{token}&agi://10.0.0.3:4573/{token}"
            in (out / "sc-globals.conf").read_text())
    code, _out, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(tmp_path / "x"),
                         "--also-controller", "10.0.0.3")
    assert code == 2 and "HOST:PORT" in err
    assert not (tmp_path / "x").exists() or list((tmp_path / "x").iterdir()) == []


@pytest.mark.parametrize("full", [["--full"], []], ids=["full", "kit"])
def test_full_configuration_logs_call_events_for_reconciliation(sc, tmp_path, full):
    """A dedicated Asterisk and an existing one (the kit) alike: CEL to the file the
    controller reads (`node add/edit --cel-file`)."""
    out = tmp_path / "etc"
    code, stdout, err = sc("asterisk", "render", "--node", "paris-1", "--out", str(out), *full)
    assert code == 0, err
    assert "[/var/log/asterisk/sc-cel.json]" in (out / "cel_custom.conf").read_text()
    if not full:
        assert "--cel-file" in stdout and "cel_custom.conf" in stdout
    cel = parse(out / "cel.conf")["general"]
    assert cel["enable"] == "yes" and set(cel["events"].split(",")) == {
        "ANSWER", "HANGUP", "USER_DEFINED"}
    custom = (out / "cel_custom.conf").read_text()
    assert "format = json" in custom and "UniqueID" in custom
    assert "CallerID" not in custom and "Num" not in custom      # no number in the log
