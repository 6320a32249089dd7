"""The load peer (bench/loadpeer) against a real controller: a `sc-asterisk serve` process dials a
handful of calls whose AMI and FastAGI sides the peer plays. Every attempt dialed is final and
recorded (answered calls with their segments), nobody is dialed twice, and the peer saw exactly
the Originates the database says were sent: the rehearsal tool cannot silently rot."""
import socket

import pytest

from bench.loadpeer import rehearsal
from bench.loadpeer.agi import Session
from bench.loadpeer.ami import parse_block


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_arg(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rehearsal.db'}"
    import os
    dsn = os.environ.get("SC_ASTERISK_TEST_PG")
    if not dsn:
        pytest.skip("SC_ASTERISK_TEST_PG is not set")
    return dsn


def test_a_controller_dials_the_load_peer_and_records_every_call_once(db_arg, tmp_path):
    ami, agi = free_ports(2)
    args = rehearsal.parse_args([
        "--db", db_arg, "--controllers", "1", "--queued", "16", "--calls", "16",
        "--message-s", "2", "--notice-s", "1", "--ring-s", "0.5", "2", "--time-scale", "0.05",
        "--answer-ratio", "0.75", "--cps", "50", "--ami-port", str(ami), "--agi-port", str(agi),
        "--phase-timeout", "20", "--no-results", "--workdir", str(tmp_path / "work")])
    found = rehearsal.run(args)
    checks = found["checks"]
    assert checks["dialed"] == 16 == checks["peer_originates"]
    assert checks["numbers_dialed_twice"] == 0 and checks["peer_duplicate_numbers"] == 0
    assert checks["peer_duplicate_channel_ids"] == 0
    assert checks["not_final"] == 0 and checks["without_record"] == 0
    assert checks["answered_without_segments"] == 0 and checks["peer_agi_failed"] == 0
    peer = found["peers"][0]
    assert checks["outcomes"].get("answered", 0) == peer["answered"] > 0
    assert sum(checks["outcomes"].values()) == 16
    assert found["serve_exit"] == [0]
    phase = found["phases"][0]
    assert phase["claim_latency_ms"]["n"] == 16          # every Originate matched to its claim


def test_the_peer_parses_an_originate_as_asterisk_would():
    fields = parse_block(b"Action: Originate\r\nActionID: sc-a1\r\nChannelId: a1\r\n"
                         b"Async: true\r\nVariable: SC_AGI=agi://127.0.0.1:4573/tok\r\n"
                         b"Variable: SC_CAMPAIGN=7.ab\r\n\r\n")
    assert fields["Variable"] == ["SC_AGI=agi://127.0.0.1:4573/tok", "SC_CAMPAIGN=7.ab"]
    session = Session("agi://127.0.0.1:4573/tok", "a1", "PJSIP/lab-1", "/snd", "7.ab", None,
                      False, 0.01)
    header = session.header().decode()
    assert "agi_network_script: tok/broadcast\n" in header
    assert "agi_uniqueid: a1\n" in header and header.endswith("agi_arg_2: 7.ab\n\n")
