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


# What Asterisk 22 sent for one call of each kind, recorded in the lab against SIPp callees
# (a controller's AMI link, every event before filtering): (event, the headers that matter).
RINGING = ("Newstate", {"ChannelStateDesc": "Ringing"})
UP = ("Newstate", {"ChannelStateDesc": "Up"})
ANSWER = ("OriginateResponse", {"Response": "Success", "Reason": "4"})
END = [("Cdr", {"Disposition": "ANSWERED"}), ("Hangup", {"Cause": "0", "Cause-txt": "Unknown"})]
RECORDED = {
    "busy": [("HangupRequest", {"Cause": "17"}),
             ("Hangup", {"Cause": "17", "Cause-txt": "User busy"}),
             ("OriginateResponse", {"Response": "Failure", "Reason": "0"}),
             ("Cdr", {"Disposition": "BUSY"})],
    "no answer": [RINGING, ("OriginateResponse", {"Response": "Failure", "Reason": "3"}),
                  ("Hangup", {"Cause": "19", "Cause-txt": "User alerting, no answer"}),
                  ("Cdr", {"Disposition": "NO ANSWER"})],
    "callee hangs up": [RINGING, UP, ANSWER, ("HangupRequest", {})] + END,
    "call flow hangs up": [RINGING, UP, ANSWER] + END,
}
MODELS = {"busy": dict(answer_ratio=0, busy_ratio=1),
          "no answer": dict(answer_ratio=0, busy_ratio=0),
          "callee hangs up": dict(answer_ratio=1, full_listen_ratio=0),
          "call flow hangs up": dict(answer_ratio=1, full_listen_ratio=1)}


@pytest.mark.parametrize("kind", list(RECORDED))
def test_the_peer_sends_the_events_asterisk_22_sends(kind, tmp_path):
    import asyncio
    import wave

    from bench.loadpeer.ami import Peer
    from bench.loadpeer.calls import CallModel

    prompt = tmp_path / "msg"
    with wave.open(f"{prompt}.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\1\0" * 8000)

    async def call_flow(reader, writer):        # plays the prompt, then hangs up (if still up)
        while (await reader.readline()).strip():
            pass
        writer.write(f'STREAM FILE "{prompt}" ""\n'.encode())
        answer = (await reader.readline()).decode()
        if answer.startswith("HANGUP"):
            await reader.readline()
        else:
            writer.write(b"HANGUP\n")
            await reader.readline()
        writer.close()

    async def main():
        agi = await asyncio.start_server(call_flow, "127.0.0.1", 0)
        peer = Peer("s3cret", str(tmp_path), CallModel(time_scale=0.01, ring_s=(1, 2),
                                                      **MODELS[kind]))
        port = await peer.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()                  # the banner
        agi_port = agi.sockets[0].getsockname()[1]
        writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: sc-controller\r\n"
                     b"Secret: s3cret\r\n\r\n"
                     b"Action: Originate\r\nActionID: sc-a1\r\nChannel: PJSIP/+33199000001@lab\r\n"
                     b"Context: sc-broadcast\r\nExten: s\r\nPriority: 1\r\nTimeout: 5000\r\n"
                     b"Async: true\r\nChannelId: a1\r\n"
                     + f"Variable: SC_AGI=agi://127.0.0.1:{agi_port}/tok\r\n"
                       f"Variable: SC_SCRIPT={prompt}\r\n\r\n".encode())
        events = []
        while not events or events[-1][0] != ("Hangup" if kind not in ("busy", "no answer")
                                               else "Cdr"):
            block = parse_block(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
            if "Event" in block and block["Event"] != "FullyBooted":
                events.append((block["Event"], block))
        writer.close()
        await peer.stop()
        agi.close()
        return events

    events = asyncio.run(main())
    assert [name for name, _ in events] == [name for name, _ in RECORDED[kind]]
    for (name, sent), (_, recorded) in zip(events, RECORDED[kind]):
        assert {k: sent.get(k) for k in recorded} == recorded, name
        if name != "Cdr":
            assert sent["Uniqueid"] == "a1"
        if name == "HangupRequest" and kind == "callee hangs up":
            assert "Cause" not in sent            # Asterisk 22 gives none for a callee's BYE
