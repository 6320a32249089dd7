"""place_calls (SIPp as UAC) against the callee Simulator and against a scripted Python UAS."""
import os
import re
import socket
import struct
import threading
import time

import pytest

from sc_asterisk.errors import LabError
from sc_asterisk.lab.callers import InboundCall, place_calls
from sc_asterisk.lab.sipp import CalleePlan, Simulator

HOST = "127.0.0.1"
# Clear of the lab instances (offset n uses n5038-n5072, n6070-n6072, 1n000-1n999);
# callers at callees + 2, as in the lab.
SIM_PORT, CALLER_PORT = 29270, 29272
TOLERANCE_MS = 20
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("callers")
    plan = CalleePlan()
    plan.add("100", "answer", ring_ms=100, hold_ms=600)
    plan.add("101", "answer", ring_ms=50, hold_ms=3000)
    plan.add("102", "busy", ring_ms=80)
    plan.add("103", "reject", ring_ms=0)
    calls = [InboundCall("100"), InboundCall("+101", hangup_after_ms=400),
             InboundCall("102"), InboundCall("103"), InboundCall("999")]
    with Simulator(plan, port=SIM_PORT, workdir=workdir / "sim") as sim:
        started = time.monotonic()
        truths = place_calls(calls, HOST, SIM_PORT, CALLER_PORT, workdir / "caller", timeout=10)
        took = time.monotonic() - started
        sim.check_running()
    return truths, {t.number: t for t in sim.truth()}, took


def test_one_truth_per_call_in_order_and_it_returns_when_they_end(batch):
    truths, callee, took = batch
    assert [t.number_called for t in truths] == ["100", "+101", "102", "103", "999"]
    assert sorted(callee) == ["100", "101", "102", "103", "999"]
    assert took < 3.0  # the longest call is 0.7 s: no waiting for a timeout


def test_far_end_hangs_up_and_we_answer_its_bye(batch):
    call, callee = batch[0][0], batch[1]["100"]
    assert (call.outcome, call.status, call.ended_by) == ("answered", 200, "callee")
    assert (callee.outcome, callee.ended_by) == ("answered", "callee")
    assert abs(call.talk_ms - 600) <= TOLERANCE_MS
    assert abs(call.answer_ms - call.invite_ms - 100) <= TOLERANCE_MS


def test_we_hang_up_hangup_after_ms_after_the_answer(batch):
    call, callee = batch[0][1], batch[1]["101"]
    assert (call.outcome, call.ended_by) == ("answered", "caller")
    assert abs(call.talk_ms - 400) <= TOLERANCE_MS
    assert callee.ended_by == "caller"
    assert abs(call.end_ms - callee.end_ms) <= TOLERANCE_MS  # both clocks are this machine's


def test_refusals(batch):
    busy, rejected, unknown = batch[0][2:]
    assert (busy.outcome, busy.status, busy.ended_by) == ("busy", 486, "callee")
    assert busy.answer_ms is None
    assert abs(busy.end_ms - busy.invite_ms - 80) <= TOLERANCE_MS
    assert (rejected.outcome, rejected.status) == ("rejected", 503)
    assert (unknown.outcome, unknown.status) == ("unknown", 404)


@pytest.mark.skipif(not IS_ROOT, reason="the machine callee plays RTP through a raw socket")
def test_rtp_from_the_far_end_is_counted(tmp_path):
    plan = CalleePlan()
    plan.add("200", "machine", ring_ms=0, hold_ms=1000)
    with Simulator(plan, port=SIM_PORT + 4, workdir=tmp_path / "sim") as sim:
        [call] = place_calls([InboundCall("200")], HOST, SIM_PORT + 4, SIM_PORT + 6, tmp_path)
    [callee] = sim.truth()
    assert call.far_rtp_port == sim.media_port
    assert call.rtp_payload_types == (8,)
    expected = (callee.end_ms - callee.audio_ms) / 20  # the greeting, until the callee's BYE
    assert abs(call.rtp_packets - expected) <= 3
    assert abs(call.rtp_ms - expected * 20) <= 60


def test_timeout_bounds_a_call_that_never_ends(tmp_path):
    plan = CalleePlan()
    plan.add("300", "noanswer")
    with Simulator(plan, port=SIM_PORT + 8, workdir=tmp_path / "sim"):
        started = time.monotonic()
        [call] = place_calls([InboundCall("300")], HOST, SIM_PORT + 8, SIM_PORT + 10, tmp_path,
                             timeout=1.0)
    assert time.monotonic() - started < 3.5
    assert (call.outcome, call.status, call.end_ms) == ("failed", None, None)
    assert call.invite_ms is not None


def test_a_taken_local_port_is_refused(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((HOST, SIM_PORT + 12))
    try:
        with pytest.raises(LabError, match="already in use"):
            place_calls([InboundCall("1")], HOST, SIM_PORT + 14, SIM_PORT + 12, tmp_path)
    finally:
        taken.close()


# -- a scripted UAS: what the caller sends, and how it takes a re-INVITE and a far BYE ------
class ScriptedUas(threading.Thread):
    """Answers one INVITE with 200 + SDP, re-INVITEs, sends RTP, then hangs up (BYE)."""

    def __init__(self, rtp_to_send: int = 20):
        super().__init__(daemon=True)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.sip.settimeout(5)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, 0))
        self.rtp.settimeout(5)
        self.port, self.rtp_port = self.sip.getsockname()[1], self.rtp.getsockname()[1]
        self.rtp_to_send = rtp_to_send
        self.seen: dict[str, str] = {}
        self.rtp_heard: list[tuple[float, bytes]] = []
        self.error: Exception | None = None

    def _recv(self, start: str) -> tuple[str, tuple]:
        while True:
            data, peer = self.sip.recvfrom(65535)
            text = data.decode()
            if text.startswith(start):
                return text, peer

    @staticmethod
    def _header(msg: str, name: str) -> str:
        return re.search(rf"^{name}:\s*(.*?)\r?$", msg, re.M | re.I).group(1)

    def _sdp(self) -> str:
        body = (f"v=0\r\no=uas 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
                f"m=audio {self.rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\n")
        return f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"

    def _reply(self, request: str, peer, code: str, to_tag: str, sdp: bool) -> None:
        heads = "".join(f"{h}: {self._header(request, h)}\r\n"
                        for h in ("Via", "From", "Call-ID", "CSeq"))
        to = self._header(request, "To")
        to = to if "tag=" in to else f"{to};tag={to_tag}"
        self.sip.sendto((f"SIP/2.0 {code}\r\n{heads}To: {to}\r\n"
                         f"Contact: <sip:uas@{HOST}:{self.port}>\r\n"
                         + (self._sdp() if sdp else "Content-Length: 0\r\n\r\n")).encode(), peer)

    def _request(self, method: str, cseq: int, invite: str, peer, body: str = "") -> None:
        caller = re.search(r"<(sip:[^>]+)>", self._header(invite, "Contact")).group(1)
        self.sip.sendto((f"{method} {caller} SIP/2.0\r\n"
                         f"Via: SIP/2.0/UDP {HOST}:{self.port};branch=z9hG4bK-{method}{cseq}\r\n"
                         f"From: {self._header(invite, 'To')};tag=uas1\r\n"
                         f"To: {self._header(invite, 'From')}\r\n"
                         f"Call-ID: {self._header(invite, 'Call-ID')}\r\nCSeq: {cseq} {method}\r\n"
                         f"Contact: <sip:uas@{HOST}:{self.port}>\r\nMax-Forwards: 70\r\n"
                         + (body or "Content-Length: 0\r\n\r\n")).encode(), peer)

    def run(self) -> None:
        try:
            invite, peer = self._recv("INVITE ")
            self.seen["invite"] = invite
            self._reply(invite, peer, "200 OK", "uas1", sdp=True)
            self.seen["ack"] = self._recv("ACK ")[0]
            caller_rtp = None
            while len(self.rtp_heard) < 25:
                packet, caller_rtp = self.rtp.recvfrom(2048)
                self.rtp_heard.append((time.monotonic(), packet))
            self.seen["caller_rtp_port"] = str(caller_rtp[1])
            for n in range(self.rtp_to_send):
                self.rtp.sendto(struct.pack("!BBHII", 0x80, 8, n, n * 160, 7) + b"\xd5" * 160,
                                caller_rtp)
                time.sleep(0.02)
            self._request("INVITE", 2, invite, peer, body=self._sdp())
            self.seen["reinvite_ok"] = self._recv("SIP/2.0 ")[0]
            self._request("ACK", 2, invite, peer)
            self.seen["bye_at"] = str(time.time() * 1000)
            self._request("BYE", 3, invite, peer)
            self.seen["bye_ok"] = self._recv("SIP/2.0 ")[0]
        except Exception as err:  # reported by the test, with what was seen so far
            self.error = err


def test_offer_caller_id_rtp_reinvite_and_far_bye_against_a_scripted_uas(tmp_path):
    uas = ScriptedUas()
    uas.start()
    try:
        [call] = place_calls([InboundCall("+33199001000", caller_id="+33612345678")], HOST,
                             uas.port, SIM_PORT + 16, tmp_path, timeout=10)
        uas.join(5)
    finally:
        uas.sip.close()
        uas.rtp.close()
    assert uas.error is None, (uas.error, uas.seen)
    invite = uas.seen["invite"]
    assert invite.startswith(f"INVITE sip:+33199001000@{HOST}:{uas.port} SIP/2.0")
    assert "<sip:+33612345678@" in ScriptedUas._header(invite, "From")
    assert re.search(r"^m=audio \d+ RTP/AVP 8 0 101\r?$", invite, re.M)
    for line in ("a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000",
                 "a=rtpmap:101 telephone-event/8000"):
        assert line in invite
    # our RTP: PCMA silence every 20 ms, from the port our SDP offers (symmetric)
    offered = int(re.search(r"^m=audio (\d+)", invite, re.M).group(1))
    headers = [struct.unpack("!BBHII", p[:12]) for _, p in uas.rtp_heard]
    assert {(h[0], h[1] & 0x7F) for h in headers} == {(0x80, 8)}
    assert [h[2] for h in headers] == list(range(len(headers)))
    assert {len(p) for _, p in uas.rtp_heard} == {172}
    span = (uas.rtp_heard[-1][0] - uas.rtp_heard[0][0]) * 1000
    assert abs(span - 20 * (len(headers) - 1)) <= 60
    assert call.rtp_packets == 20 and call.rtp_payload_types == (8,)
    assert int(uas.seen["caller_rtp_port"]) == offered
    assert call.far_rtp_port == uas.rtp_port
    assert uas.seen["reinvite_ok"].startswith("SIP/2.0 200 OK")
    assert "m=audio" in uas.seen["reinvite_ok"]
    assert uas.seen["bye_ok"].startswith("SIP/2.0 200 OK") and "BYE" in uas.seen["bye_ok"]
    assert (call.outcome, call.ended_by) == ("answered", "callee")
    assert abs(call.end_ms - float(uas.seen["bye_at"])) <= TOLERANCE_MS
