"""The SIPp callee simulator against a second SIPp playing the caller (no Asterisk).

One batch of calls, one per behaviour, runs once for the module; the tests read its two sides:
the simulator's ground truth and what the caller saw (its own SIPp log, and the RTP it got).
"""
import os
import socket
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

from sc_asterisk.errors import LabError
from sc_asterisk.lab import sipp as sipp_mod
from sc_asterisk.lab.pcap import g711_decode
from sc_asterisk.lab.sipp import CALLER_SCENARIO, CalleePlan, Simulator

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="SIPp plays DTMF pcaps through a raw socket")

HOST = "127.0.0.1"
# Clear of the lab instances (offset n uses n5038-n5072, n6070-n6072, 1n000-1n999).
SIM_PORT, CALLER_PORT = 29070, 29080
HOLD_TOLERANCE_MS = 20

ANSWER, BUSY, REJECT, NOANSWER = "33199000001", "33199000002", "33199000003", "33199000004"
CALLER_HANGS_UP, DTMF, UNKNOWN = "33199000005", "33199000006", "33199000099"
GIVES_UP_RINGING = "33199000007"


class RtpSink:
    """Collects the RTP the callee sends to the caller's offered port."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []
        self.arrivals: list[float] = []  # epoch ms of each packet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.packets.append(self.sock.recv(2048))
                self.arrivals.append(time.time() * 1000)
            except socket.timeout:
                continue

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def run_callers(calls, workdir: Path, sim_port: int, caller_port: int, rtp_port: int) -> dict:
    """Place the calls with SIPp as UAC; return {number: {event: (epoch_ms, detail)}}.

    calls: (dialed number, action, after_ms) with action wait|bye|cancel (see caller.xml).
    """
    csv = workdir / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{n};{a};{ms};{rtp_port};caller\n"
                                             for n, a, ms in calls))
    command = [sipp_mod.find_sipp(), "-sf", str(CALLER_SCENARIO), "-inf", csv.name,
               f"{HOST}:{sim_port}", "-i", HOST, "-p", str(caller_port), "-mp", str(caller_port + 1000),
               "-m", str(len(calls)), "-r", "50", "-timer_resol", "1", "-timeout", "15",
               "-trace_logs", "-log_file", "caller.log", "-nostdin"]
    done = subprocess.run(command, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=20)
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    seen: dict[str, dict] = {}
    for line in (workdir / "caller.log").read_text().splitlines():
        _, event, sec, usec, number, detail, _ = line.split("|", 6)
        at = float(sec or 0) * 1000 + float(usec or 0) / 1000
        seen.setdefault(number.lstrip("+"), {})[event] = (at, detail)
    return seen


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sipp")
    plan = CalleePlan()
    plan.add("+" + ANSWER, "answer", ring_ms=100, hold_ms=600)
    plan.add(BUSY, "busy", ring_ms=150)
    plan.add(REJECT, "reject", ring_ms=50)
    plan.add(NOANSWER, "noanswer")
    plan.add(CALLER_HANGS_UP, "answer", ring_ms=50, hold_ms=3000)
    plan.add(GIVES_UP_RINGING, "answer", ring_ms=3000, hold_ms=1000)
    if IS_ROOT:
        plan.add(DTMF, "dtmf", ring_ms=50, hold_ms=900, dtmf="7", dtmf_at_ms=300)
    calls = [("+" + ANSWER, "wait", 0), (BUSY, "wait", 0), ("+" + REJECT, "wait", 0),
             (NOANSWER, "cancel", 300), (CALLER_HANGS_UP, "bye", 400), (UNKNOWN, "wait", 0),
             (GIVES_UP_RINGING, "cancel", 250)]
    if IS_ROOT:
        calls.append(("+" + DTMF, "wait", 0))
    sink = RtpSink()
    try:
        with Simulator(plan, port=SIM_PORT, workdir=workdir / "sim", host=HOST) as sim:
            caller = run_callers(calls, workdir, SIM_PORT, CALLER_PORT, sink.port)
            sim.check_running()
    finally:
        sink.close()
    return {t.number: t for t in sim.truth()}, caller, sim, sink.packets


def test_every_dialed_number_got_exactly_one_invite(batch):
    truth, _, sim, _ = batch
    dialed = sorted(number for _, number in sim.invites())
    expected = [ANSWER, BUSY, REJECT, NOANSWER, CALLER_HANGS_UP, UNKNOWN, GIVES_UP_RINGING] + ([DTMF] if IS_ROOT else [])
    assert dialed == sorted(expected)
    times = [at for at, _ in sim.invites()]
    assert times == sorted(times)


def test_answer_holds_for_hold_ms_then_callee_hangs_up(batch):
    truth, caller, _, _ = batch
    call = truth[ANSWER]
    assert (call.outcome, call.ended_by) == ("answered", "callee")
    assert abs(call.hold_ms_measured - 600) <= HOLD_TOLERANCE_MS
    assert abs((call.answer_ms - call.invite_ms) - 100) <= HOLD_TOLERANCE_MS
    assert caller[ANSWER]["final"][1] == "200"
    # the caller received our BYE when the truth says we sent it
    assert abs(caller[ANSWER]["bye_recv"][0] - call.end_ms) <= HOLD_TOLERANCE_MS


def test_busy_gets_486_after_ring_ms(batch):
    truth, caller, _, _ = batch
    assert caller[BUSY]["final"][1] == "486"
    call = truth[BUSY]
    assert (call.outcome, call.ended_by, call.answer_ms) == ("busy", "callee", None)
    assert abs((call.end_ms - call.invite_ms) - 150) <= HOLD_TOLERANCE_MS


def test_reject_gets_503(batch):
    truth, caller, _, _ = batch
    assert caller[REJECT]["final"][1] == "503"
    assert truth[REJECT].outcome == "rejected"


def test_noanswer_rings_until_the_caller_cancels(batch):
    truth, caller, _, _ = batch
    assert caller[NOANSWER]["final"][1] == "487"
    call = truth[NOANSWER]
    assert (call.outcome, call.ended_by, call.answer_ms) == ("noanswer", "caller", None)
    assert call.end_ms - call.invite_ms >= 300


def test_caller_giving_up_before_the_answer_is_noanswer(batch):
    truth, caller, _, _ = batch
    assert caller[GIVES_UP_RINGING]["final"][1] == "487"
    call = truth[GIVES_UP_RINGING]
    assert (call.outcome, call.ended_by, call.answer_ms) == ("noanswer", "caller", None)
    assert abs((call.end_ms - call.invite_ms) - 250) <= HOLD_TOLERANCE_MS


def test_caller_bye_before_hold_is_recorded_as_caller(batch):
    truth, caller, _, _ = batch
    call = truth[CALLER_HANGS_UP]
    assert (call.outcome, call.ended_by) == ("answered", "caller")
    assert abs(call.hold_ms_measured - 400) <= HOLD_TOLERANCE_MS  # the caller's 400, not our 3000
    assert abs(caller[CALLER_HANGS_UP]["bye_sent"][0] - call.end_ms) <= HOLD_TOLERANCE_MS


def test_unknown_number_gets_404(batch):
    truth, caller, _, _ = batch
    assert caller[UNKNOWN]["final"][1] == "404"
    assert truth[UNKNOWN].outcome == "unknown"


@needs_root
def test_dtmf_digit_is_sent_as_rfc4733_at_dtmf_at_ms(batch):
    truth, caller, _, packets = batch
    call = truth[DTMF]
    assert (call.outcome, call.ended_by, call.dtmf) == ("answered", "callee", "7")
    assert abs((call.dtmf_ms - call.ack_ms) - 300) <= HOLD_TOLERANCE_MS
    assert abs(call.hold_ms_measured - 900) <= HOLD_TOLERANCE_MS
    events = [p for p in packets if len(p) >= 16 and p[1] & 0x7F == 101]
    assert events, "no telephone-event packet reached the caller"
    digits = {p[12] for p in events}
    assert digits == {7}
    assert any(p[13] & 0x80 for p in events), "no end-of-event packet"
    assert struct.unpack(">H", events[-1][14:16])[0] > 0


def test_reload_serves_the_new_plan_and_keeps_the_old_truth(tmp_path):
    first = CalleePlan()
    first.add("111", "busy", ring_ms=0)
    second = CalleePlan()
    second.add("111", "reject", ring_ms=0)
    sim = Simulator(first, port=SIM_PORT + 2, workdir=tmp_path / "sim")
    with sim:
        assert run_callers([("111", "wait", 0)], tmp_path, SIM_PORT + 2, CALLER_PORT + 2, 9)["111"]["final"][1] == "486"
        sim.reload(second)
        assert run_callers([("111", "wait", 0)], tmp_path, SIM_PORT + 2, CALLER_PORT + 2, 9)["111"]["final"][1] == "503"
    assert [t.outcome for t in sim.truth()] == ["busy", "rejected"]
    assert not sim.running


def test_request_during_the_hold_is_answered_and_the_hold_keeps_its_deadline(tmp_path):
    plan = CalleePlan()
    plan.add("222", "answer", ring_ms=0, hold_ms=700)
    with Simulator(plan, port=SIM_PORT + 8, workdir=tmp_path / "sim") as sim:
        caller = run_callers([("222", "info", 200)], tmp_path, SIM_PORT + 8, CALLER_PORT + 8, 9)
    [call] = sim.truth()
    assert "info_ok" in caller["222"]
    assert (call.outcome, call.ended_by) == ("answered", "callee")
    assert abs(call.hold_ms_measured - 700) <= HOLD_TOLERANCE_MS


def test_out_of_dialog_options_ping_gets_200_and_opens_no_call(tmp_path):
    plan = CalleePlan()
    plan.add("111", "busy", ring_ms=0)
    ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ping.bind((HOST, 0))
    ping.settimeout(2)
    port = ping.getsockname()[1]
    options = (f"OPTIONS sip:{HOST}:{SIM_PORT + 10} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-ping1\r\n"
               f"From: <sip:ping@{HOST}:{port}>;tag=p1\r\nTo: <sip:{HOST}:{SIM_PORT + 10}>\r\n"
               "Call-ID: ping-1@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")
    try:
        with Simulator(plan, port=SIM_PORT + 10, workdir=tmp_path / "sim") as sim:
            ping.sendto(options.encode(), (HOST, SIM_PORT + 10))
            reply = ping.recv(4096).decode()
            caller = run_callers([("111", "wait", 0)], tmp_path, SIM_PORT + 10, CALLER_PORT + 10, 9)
            sim.check_running()
    finally:
        ping.close()
    assert reply.startswith("SIP/2.0 200 OK") and "ping-1@test" in reply
    assert caller["111"]["final"][1] == "486"
    assert [(t.number, t.outcome) for t in sim.truth()] == [("111", "busy")]


def test_start_refuses_a_busy_port(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((HOST, SIM_PORT + 4))
    plan = CalleePlan()
    plan.add("111", "answer")
    try:
        with pytest.raises(LabError, match="already in use"):
            Simulator(plan, port=SIM_PORT + 4, workdir=tmp_path).start()
    finally:
        taken.close()


def test_missing_sipp_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    plan = CalleePlan()
    plan.add("111", "answer")
    with pytest.raises(LabError) as err:
        Simulator(plan, port=SIM_PORT + 6, workdir=tmp_path).start()
    assert str(err.value) == "sipp not found"
    assert err.value.fix == "apt-get install sip-tester"


def test_dtmf_callee_without_root_is_refused_before_sipp_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(sipp_mod.os, "geteuid", lambda: 1000)
    plan = CalleePlan()
    plan.add("111", "dtmf", hold_ms=1000, dtmf="1")
    with pytest.raises(LabError) as err:
        Simulator(plan, port=SIM_PORT + 12, workdir=tmp_path).start()
    assert "raw socket" in str(err.value) and "root" in err.value.fix
    assert not (tmp_path / "callee-1.out").exists()


# -- answering machine and human: RTP speech from play_pcap_audio ---------------------------
MACHINE, HUMAN = "33199000010", "33199000011"


def stream(sink: RtpSink, capture: str) -> list[tuple[float, bytes]]:
    """(arrival epoch ms, RTP packet) of one capture's stream, told apart by its SSRC."""
    ssrc = zlib.crc32(capture.encode())
    return [(at, p) for at, p in zip(sink.arrivals, sink.packets)
            if len(p) >= 12 and struct.unpack("!I", p[8:12])[0] == ssrc]


def voiced_ms(packets: list[tuple[float, bytes]]) -> float:
    """From the first to the end of the last frame AMD would hear as voice (level > 256)."""
    loud = [i for i, (_, p) in enumerate(packets) if max(map(abs, g711_decode(p[12:]))) > 256]
    return (loud[-1] + 1 - loud[0]) * 20.0


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    if not IS_ROOT:
        pytest.skip("SIPp plays the speech captures through a raw socket")
    workdir = tmp_path_factory.mktemp("spoken")
    plan = CalleePlan()
    plan.add(MACHINE, "machine", ring_ms=0, hold_ms=8400)  # the whole 8.02 s capture
    plan.add(HUMAN, "human", ring_ms=0, hold_ms=2000)      # cut short by our BYE
    sink = RtpSink()
    try:
        with Simulator(plan, port=SIM_PORT + 100, workdir=workdir / "sim") as sim:
            run_callers([(MACHINE, "wait", 0), (HUMAN, "wait", 0)], workdir, SIM_PORT + 100,
                        CALLER_PORT + 100, sink.port)
            sim.check_running()
    finally:
        sink.close()
    return {t.number: t for t in sim.truth()}, sink


def check_rtp_stream(packets):
    headers = [struct.unpack("!BBHII", p[:12]) for _, p in packets]
    assert {(h[0], h[1] & 0x7F) for h in headers} == {(0x80, 8)}  # RTP v2, PCMA
    assert {len(p) for _, p in packets} == {12 + 160}               # 20 ms frames
    assert [(h[2] - headers[0][2]) & 0xFFFF for h in headers] == list(range(len(headers)))
    assert [h[3] - headers[0][3] for h in headers] == [160 * n for n in range(len(headers))]


def test_machine_plays_its_whole_greeting_as_pcma_rtp_from_the_ack(spoken):
    truth, sink = spoken
    call = truth[MACHINE]
    assert (call.outcome, call.ended_by, call.audio) == ("answered", "callee", "greeting-machine")
    packets = stream(sink, "greeting-machine")
    check_rtp_stream(packets)
    assert len(packets) == 401
    assert abs(packets[0][0] - call.audio_ms) <= 50                     # it starts at the ACK
    assert abs(packets[-1][0] - packets[0][0] - 8000) <= 100            # at the capture's pace
    assert 5500 <= voiced_ms(packets) <= 7000                          # ~5.6 s speech + beep


def test_human_says_hello_and_its_rtp_stops_with_the_call(spoken):
    truth, sink = spoken
    call = truth[HUMAN]
    assert (call.outcome, call.ended_by, call.audio) == ("answered", "callee", "hello-human")
    assert abs(call.hold_ms_measured - 2000) <= HOLD_TOLERANCE_MS
    packets = stream(sink, "hello-human")
    check_rtp_stream(packets)
    assert 400 <= voiced_ms(packets) <= 800
    # the capture lasts 5.36 s: our BYE at 2 s ends it
    assert packets[-1][0] <= call.end_ms + 40
    expected = (call.end_ms - call.audio_ms) / 20
    assert abs(len(packets) - expected) <= 3


def test_speech_callee_without_root_is_refused_before_sipp_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(sipp_mod.os, "geteuid", lambda: 1000)
    plan = CalleePlan()
    plan.add("111", "machine")
    plan.add("112", "human")
    with pytest.raises(LabError) as err:
        Simulator(plan, port=SIM_PORT + 104, workdir=tmp_path).start()
    assert str(err.value) == "human and machine callees need SIPp to open a raw socket"
    assert not (tmp_path / "callee-1.out").exists()


def test_missing_speech_capture_names_the_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(sipp_mod, "MEDIA_DIR", tmp_path / "nowhere")
    plan = CalleePlan()
    plan.add("111", "answer")
    with pytest.raises(LabError) as err:
        Simulator(plan, port=SIM_PORT + 106, workdir=tmp_path).start()
    assert "greeting-machine" in str(err.value)
    assert err.value.fix == "run: python -m sc_asterisk.lab.pcap"
