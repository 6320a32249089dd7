"""The callback line under fr-cnil (issue 19, item 4) and the node/trunk options behind it,
through the console entry point: `campaign start` refuses a caller ID no enabled node answers;
NAT and TLS node options are checked and shown."""
from __future__ import annotations

import os
import shutil

import pytest

from sc_asterisk.db import AudioAsset
from test_trunk_cli import Env

CID = "+33162000001"


@pytest.fixture
def sc(tmp_path, db, _private_home):
    env = Env(tmp_path, db)
    # `asterisk render` derives the FastAGI token from the installation's key
    (env.home / "secrets").mkdir(parents=True, mode=0o700)
    shutil.copy2(_private_home / "secrets" / "installation-key",
                 env.home / "secrets" / "installation-key")
    with db.session() as s:
        for name in ("intro", "msg", "notice"):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000, source_filename="x",
                             data=b""))
    return env


def create(sc, name, caller_id, profile="fr-cnil", trunk="acme"):
    code, _out, err = sc("campaign", "create", name, "--optout-intro", "intro", "--message",
                         "msg", "--notice", "notice", "--trunk", trunk, "--caller-id", caller_id,
                         "--profile", profile)
    assert code == 0, err


def test_start_refuses_a_caller_id_no_enabled_node_answers(sc):
    sc.add_node()
    assert sc("trunk", "add", "acme", "--host", "192.0.2.10", "--node", "n1")[0] == 0
    create(sc, "muni", "01 62 00 00 01")
    code, out, err = sc("campaign", "start", "muni")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"no node answers caller ID {CID}" in err and f"--did {CID}" in err

    assert sc("trunk", "edit", "acme", "--did", "01 62 00 00 01")[0] == 0
    code, out, err = sc("node", "show", "n1")
    assert CID in out
    assert sc("node", "edit", "n1", "--disable")[0] == 0          # a disabled node answers nothing
    assert sc("campaign", "start", "muni")[0] == 2
    assert sc("node", "edit", "n1", "--enable")[0] == 0
    assert sc("trunk", "edit", "acme", "--disable")[0] == 0       # nor a disabled trunk
    assert sc("campaign", "start", "muni")[0] == 2
    assert sc("trunk", "edit", "acme", "--enable")[0] == 0
    code, out, err = sc("campaign", "start", "muni")
    assert code == 0, err


def test_basic_and_the_lab_trunk_need_no_callback_number(sc):
    create(sc, "plain", "01 88 33 50 74", profile="basic")
    assert sc("campaign", "start", "plain")[0] == 0
    create(sc, "lab", "01 99 00 12 34", trunk="lab")            # the lab answers every number
    assert sc("campaign", "start", "lab")[0] == 0


def test_a_did_that_is_no_number_is_refused(sc):
    code, _out, err = sc("trunk", "add", "acme", "--host", "192.0.2.10", "--did", "abc")
    assert code == 2 and "bad callback number" in err and "--did" in err


def test_node_nat_and_tls_options_are_checked_and_shown(sc, tmp_path):
    sc.add_node()
    code, _out, err = sc("node", "edit", "n1", "--local-net", "10.0.0.0/8")
    assert code == 2 and "--public-address" in err
    assert sc("node", "edit", "n1", "--public-address", "198.51.100.7",
              "--local-net", "10.0.0.0/8", "--local-net", "192.168.0.0/16")[0] == 0
    out = sc("node", "show", "n1")[1]
    assert "198.51.100.7" in out and "10.0.0.0/8,192.168.0.0/16" in out

    cert, key = tmp_path / "n.crt", tmp_path / "n.key"
    cert.write_text("c")
    key.write_text("k")
    os.chmod(key, 0o644)
    code, _out, err = sc("node", "edit", "n1", "--tls-cert", str(cert), "--tls-key", str(key))
    assert code == 2 and f"chmod 0640 {key}" in err
    code, _out, err = sc("node", "edit", "n1", "--tls-cert", str(cert),
                         "--tls-key", str(tmp_path / "none.key"))
    assert code == 2 and "does not exist" in err
    os.chmod(key, 0o600)
    assert sc("node", "edit", "n1", "--tls-cert", str(cert), "--tls-key", str(key))[0] == 0

    # a TLS + SRTP trunk renders on this node; SRTP without TLS is refused
    code, _out, err = sc("trunk", "add", "clear", "--host", "192.0.2.11", "--srtp")
    assert code == 2 and "SRTP (SDES) needs TLS" in err
    assert sc("trunk", "add", "secure", "--host", "192.0.2.12:5061", "--transport", "tls",
              "--srtp", "--node", "n1")[0] == 0
    out_dir = tmp_path / "render"
    code, _out, err = sc("asterisk", "render", "--node", "n1", "--full", "--out", str(out_dir))
    assert code == 0, err
    trunks = (out_dir / "sc-trunks.conf").read_text()
    assert "media_encryption = sdes" in trunks and f"cert_file = {cert}" in trunks
    assert trunks.count("external_signaling_address = 198.51.100.7") == 1   # the TLS transport
    pjsip = (out_dir / "pjsip.conf").read_text()
    assert "external_media_address = 198.51.100.7" in pjsip and "local_net = 10.0.0.0/8" in pjsip
