"""Issue 19 on the real lab Asterisk through the CLI: a node behind NAT with a TLS certificate
carries a TLS + SRTP trunk; `trunk apply` loads the TLS transport with the node's public
address; `node check` lists the caller IDs the node answers and reports the transport that
does not announce the public address; removing the trunk and the NAT settings leaves the lab
as it was (node check passes)."""
from __future__ import annotations

import shutil

from sc_asterisk.asterisk_conf.transports import TLS_TRANSPORT
from sc_asterisk.lab.tls_front import make_certificate
from test_telecom_lab import telecom  # noqa: F401  (the fixture: the CLI with the lab as node)

PUBLIC = "192.0.2.10"


def test_node_check_reports_nat_and_lists_callback_numbers(telecom, lab, tmp_path):  # noqa: F811
    cert, key = make_certificate(tmp_path / "tls")
    inside = lab.root / str(cert.parent).lstrip("/")     # the same paths inside the lab's root
    inside.mkdir(parents=True, exist_ok=True)
    for path in (cert, key):
        shutil.copy2(path, inside / path.name)
    try:
        code, _out, err = telecom("node", "edit", "lab", "--public-address", PUBLIC,
                                  "--local-net", "127.0.0.0/8", "--tls-cert", str(cert),
                                  "--tls-key", str(key))
        assert code == 0, err
        code, _out, err = telecom("trunk", "add", "secure", "--host",
                                  f"127.0.0.1:{lab.ports.callees + 9}", "--transport", "tls",
                                  "--srtp", "--qualify", "0", "--match", "192.0.2.1",
                                  "--did", "01 62 00 00 01", "--node", "lab")
        assert code == 0, err
        code, out, err = telecom("trunk", "apply", "--node", "lab")
        assert code == 0, err + out
        shown = telecom.cli(f"pjsip show transport {TLS_TRANSPORT}")
        assert f"external_signaling_address  : {PUBLIC}" in shown
        assert "protocol                    : tls" in shown

        code, out, err = telecom("node", "check", "lab", "--no-agi")
        assert code == 1
        assert "ok   callback  answers +33162000001" in out
        assert "ok   modules   15 required modules loaded" in out      # res_srtp with them
        assert err.strip() == ("node lab: FAILED: nat: transport-udp has no external address "
                               "(run asterisk render or trunk apply, then restart Asterisk: a "
                               "changed transport is not reloaded)")
    finally:
        for path in (cert, key):
            (inside / path.name).unlink(missing_ok=True)
    # the trunk gone, its TLS transport goes too; without NAT settings the node passes again
    assert telecom("trunk", "remove", "secure", "--yes")[0] == 0
    assert telecom("trunk", "apply", "--node", "lab")[0] == 0
    assert telecom("node", "edit", "lab", "--public-address", "", "--local-net", "",
                   "--tls-cert", "", "--tls-key", "")[0] == 0
    code, out, err = telecom("node", "check", "lab", "--no-agi")
    assert code == 0, err + out
    assert "ok   nat       no public address" in out and "answers no caller ID" in out
    # A PJSIP reload keeps a TLS transport it once loaded, whose settings a later reload will
    # not change ("not fully reloadable"): restart, so the next test gets its own.
    lab.down()
    lab.up()
