"""Simulated people calling in (the callback line): SIPp as a UAC, its log as ground truth.

:func:`place_calls` runs ``scenarios/caller.xml`` once for a batch of calls against a SIP
server (the lab Asterisk, or a callee :class:`~sc_asterisk.lab.sipp.Simulator` in tests) and
blocks until every call has ended or the timeout has passed. Each call offers PCMA, PCMU and
telephone-event 101, ACKs the 200 OK, then hangs up ``hangup_after_ms`` after it, unless the far
end hangs up first (we answer its BYE with a 200). From the 200 OK to the hang-up each call
sends PCMA silence, as a phone would, and the RTP the far end sends is counted per call, so a
test can tell that the line played something.

Example::

    truths = place_calls([InboundCall("+33199001000", hangup_after_ms=3000),
                          InboundCall("+33199001000")],           # waits for Asterisk's BYE
                         "127.0.0.1", lab.ports.sip, local_port=lab.ports.callees + 2,
                         workdir=tmp_path)
    truths[0].outcome, truths[0].ended_by   # ('answered', 'caller')
"""
from __future__ import annotations

import re
import select
import socket
import struct
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from sc_asterisk.errors import ConfigError, LabError
from sc_asterisk.lab.sipp import CALLER_SCENARIO, check_port_free, find_sipp

_TAG = "UAC"
_USER = re.compile(r"^\+?[0-9A-Za-z._-]+\Z")  # what the injection file and a SIP URI both take
_SILENCE = b"\xd5" * 160  # 20 ms of PCMA silence
# What a final status code means for the caller; any other failure code is 'rejected'.
_OUTCOMES = {200: "answered", 486: "busy", 600: "busy", 404: "unknown", 484: "unknown",
             604: "unknown", 408: "noanswer", 480: "noanswer", 487: "noanswer"}


@dataclass(frozen=True)
class InboundCall:
    """One call to place: the number dialed, when we hang up, and who we say we are.

    ``hangup_after_ms`` runs from the 200 OK to our BYE; None waits for the far end's BYE.
    ``caller_id`` is the user part of our From (the number the line sees calling).

    Example::

        InboundCall("+33199001000", hangup_after_ms=2500, caller_id="+33612345678")
    """

    number_called: str
    hangup_after_ms: int | None = None
    caller_id: str = "caller"


@dataclass
class CallerTruth:
    """What the caller saw of one call; times are epoch milliseconds (wall clock).

    ``invite_ms`` is when our INVITE left, ``answer_ms`` when the 200 OK came, ``end_ms`` the
    hang-up (our BYE, the far end's BYE) or the failure response. ``ended_by`` is 'caller' (we
    sent the BYE) or 'callee' (the far end hung up or refused). ``outcome`` is 'answered',
    'busy' (486, 600), 'unknown' (404, 484, 604), 'noanswer' (408, 480, 487), 'rejected' (any
    other failure) or 'failed' (no final response or no end: SIPp aborted the call, or the
    timeout came first); ``status`` is the final SIP status code. ``rtp_packets`` RTP packets
    came from the far end's media port (``far_rtp_port``), ``rtp_ms`` apart from the first to
    the end of the last.
    """

    number_called: str
    call_id: str | None = None
    invite_ms: float | None = None
    answer_ms: float | None = None
    end_ms: float | None = None
    ended_by: str | None = None
    outcome: str = "failed"
    status: int | None = None
    far_rtp_port: int | None = None
    rtp_packets: int = 0
    rtp_ms: float = 0.0
    rtp_payload_types: tuple[int, ...] = field(default=())

    @property
    def talk_ms(self) -> float | None:
        """From the 200 OK to the hang-up; None for a call that was not answered and ended."""
        if self.answer_ms is None or self.end_ms is None:
            return None
        return self.end_ms - self.answer_ms


def _epoch_ms(seconds: str, microseconds: str) -> float:
    # SIPp prints its double variables with %lf, and a value of 0 as an empty string.
    return float(seconds or 0) * 1000.0 + float(microseconds or 0) / 1000.0


def parse_caller_log(text: str, calls: list[InboundCall]) -> list[CallerTruth]:
    """One CallerTruth per call, in the order of ``calls``, from caller.xml's log.

    SIPp numbers its calls from 1 in the order it places them, and call N reads line N of
    the injection file: the Call-ID (``N-pid@host``) says which call a line is about.

    Example::

        parse_caller_log("UAC|invite|1700000000.000000|5000.000000|100|-|1-42@127.0.0.1\\n",
                         [InboundCall("100")])[0].invite_ms  # 1700000000005.0
    """
    truths = [CallerTruth(number_called=c.number_called) for c in calls]
    for line in text.splitlines():
        parts = line.split("|", 6)
        if len(parts) != 7 or parts[0] != _TAG:
            continue
        _, event, seconds, micros, _, detail, call_id = parts
        try:
            at = _epoch_ms(seconds, micros)
            index = int(call_id.split("-", 1)[0]) - 1
        except ValueError:
            continue
        if not 0 <= index < len(truths):
            continue
        truth = truths[index]
        truth.call_id = call_id
        if event == "invite":
            truth.invite_ms = at
        elif event == "final" and detail.isdigit():
            truth.status = int(detail)
            if truth.status == 200:
                truth.answer_ms = at
            else:
                truth.end_ms, truth.ended_by = at, "callee"
        elif event == "media" and detail.rpartition(":")[2].isdigit():
            truth.far_rtp_port = int(detail.rpartition(":")[2])
        elif event == "bye_sent":
            truth.end_ms, truth.ended_by = at, "caller"
        elif event == "bye_recv":
            truth.end_ms, truth.ended_by = at, "callee"
    for truth in truths:
        if truth.status is not None and truth.end_ms is not None:
            truth.outcome = _OUTCOMES.get(truth.status, "rejected")
    return truths


class _Media:
    """Each call's RTP, like a phone: silence to the far end, what the far end sends counted.

    One socket for every call (its port is the one the SDP offers), so our RTP is symmetric.
    SIPp's log says when a call's media starts (its 200 OK: the far end's address) and stops
    (a BYE): the log is read as SIPp writes it. Without our RTP, Asterisk's Answer() would
    wait 500 ms for media on every call.
    """

    def __init__(self, host: str, log: Path):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.log = log
        self.packets: list[tuple[float, int, int]] = []  # (epoch ms, source port, payload type)
        self._streams: dict[str, list] = {}  # call_id -> [address, packet number, due]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _follow_log(self, handle, pending: str) -> str:
        pending += handle.read()
        *lines, pending = pending.split("\n")
        for line in lines:
            parts = line.split("|", 6)
            if len(parts) != 7 or parts[0] != _TAG:
                continue
            event, detail, call_id = parts[1], parts[5], parts[6]
            if event == "media" and call_id not in self._streams:
                ip, _, port = detail.rpartition(":")
                if ip and port.isdigit():
                    self._streams[call_id] = [(ip, int(port)), 0, time.monotonic()]
            elif event in ("bye_sent", "bye_recv") and call_id in self._streams:
                self._streams[call_id][0] = None
        return pending

    def _send_due(self) -> None:
        now = time.monotonic()
        for call_id, stream in self._streams.items():
            address, number, due = stream
            while address is not None and due <= now:
                ssrc = zlib.crc32(call_id.encode())
                header = struct.pack("!BBHII", 0x80, 8 | (0x80 if number == 0 else 0),
                                     number & 0xFFFF, (number * 160) & 0xFFFFFFFF, ssrc)
                try:
                    self.sock.sendto(header + _SILENCE, address)
                except OSError:
                    pass  # a far end gone away: its BYE is on its way
                number, due = number + 1, due + 0.020
            stream[1:] = [number, due]

    def _run(self) -> None:
        handle, pending = None, ""
        while not self._stop.is_set():
            if handle is None and self.log.exists():
                handle = open(self.log, encoding="ascii", errors="replace")
            if handle is not None:
                pending = self._follow_log(handle, pending)
            self._send_due()
            ready, _, _ = select.select([self.sock], [], [], 0.004)
            while ready:
                data, (_, port) = self.sock.recvfrom(2048)
                if len(data) >= 12 and data[0] >> 6 == 2:
                    self.packets.append((time.time() * 1000.0, port, data[1] & 0x7F))
                ready, _, _ = select.select([self.sock], [], [], 0)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def attribute(self, truths: list[CallerTruth]) -> None:
        """Count each call's packets: from its far media port, between its INVITE and its end."""
        for truth in truths:
            if truth.far_rtp_port is None or truth.invite_ms is None:
                continue
            end = (truth.end_ms if truth.end_ms is not None else float("inf")) + 200.0
            mine = [(at, pt) for at, port, pt in self.packets
                    if port == truth.far_rtp_port and truth.invite_ms <= at <= end]
            if mine:
                truth.rtp_packets = len(mine)
                truth.rtp_ms = mine[-1][0] - mine[0][0] + 20.0
                truth.rtp_payload_types = tuple(sorted({pt for _, pt in mine}))


def caller_command(target_host: str, target_port: int, local_port: int, calls: int, run: int,
                   local_host: str = "127.0.0.1", rate: float = 10.0) -> list[str]:
    """The SIPp command line of a batch (run in the work directory, with calls-RUN.csv).

    Example::

        caller_command("127.0.0.1", 15060, 15072, calls=2, run=1)
        # ['/usr/bin/sipp', '-sf', '.../caller.xml', '-inf', 'calls-1.csv', '127.0.0.1:15060', ...]
    """
    return [
        find_sipp(), "-sf", str(CALLER_SCENARIO), "-inf", f"calls-{run}.csv",
        f"{target_host}:{target_port}", "-i", local_host, "-p", str(local_port),
        "-m", str(calls), "-r", f"{rate:g}", "-rp", "1000",
        # SIPp's default 10 ms timer would put our BYE up to 10 ms late.
        "-timer_resol", "1",
        "-trace_logs", "-log_file", f"caller-{run}.log",
        "-trace_err", "-error_file", f"caller-{run}-errors.log", "-nostdin",
    ]


def _check_calls(calls: list[InboundCall]) -> None:
    if not calls:
        raise ConfigError("no call to place", fix="pass at least one InboundCall")
    for call in calls:
        for name, value in (("number_called", call.number_called), ("caller_id", call.caller_id)):
            if not isinstance(value, str) or not _USER.match(value):
                raise ConfigError(f"{name} {value!r} cannot be a SIP user part",
                                  fix="use digits, with an optional leading '+'")
        after = call.hangup_after_ms
        if after is not None and (not isinstance(after, int) or after < 0):
            raise ConfigError(f"hangup_after_ms must be a whole number of ms >= 0, not {after!r}",
                              fix="pass hangup_after_ms=2000, or None to wait for the far end")


def place_calls(calls: list[InboundCall], target_host: str, target_port: int, local_port: int,
                workdir: Path, local_host: str = "127.0.0.1", rate: float = 10.0,
                timeout: float = 30.0) -> list[CallerTruth]:
    """Place the calls (``rate`` per second) from local_host:local_port and wait for their end.

    Blocks until SIPp has finished every call, or ``timeout`` seconds have passed: SIPp is then
    stopped, the calls still up are 'failed', and the far end is left with them (no BYE), so
    pick a timeout the calls fit in. Returns one CallerTruth per call, in order. LabError when
    SIPp cannot run at all (port taken, scenario refused).

    RTP is counted by the far end's media port: against Asterisk every call has its own; against
    the callee Simulator all calls share one, and calls that overlap share their packets.

    Example::

        [truth] = place_calls([InboundCall("100", hangup_after_ms=1000)], "127.0.0.1", 5060,
                              local_port=5072, workdir=Path("/tmp/callers"))
        assert truth.outcome == "answered" and truth.ended_by == "caller"
    """
    _check_calls(calls)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run = 1 + len(list(workdir.glob("caller-*.out")))
    command = caller_command(target_host, target_port, local_port, len(calls), run, local_host,
                             rate)
    check_port_free(local_host, local_port)
    media = _Media(local_host, workdir / f"caller-{run}.log")
    try:
        (workdir / f"calls-{run}.csv").write_text("SEQUENTIAL\n" + "".join(
            f"{c.number_called};{'wait' if c.hangup_after_ms is None else 'bye'};"
            f"{c.hangup_after_ms or 0};{media.port};{c.caller_id}\n" for c in calls),
            encoding="ascii")
        out = workdir / f"caller-{run}.out"
        with open(out, "wb") as output:
            proc = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                                    stdout=output, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # SIPp 3.6.1's -timeout does not end calls that wait for a message: stop it
                # here (it has written every log line so far, one by one).
                proc.terminate()
                try:
                    proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        media.close()
    log = workdir / f"caller-{run}.log"
    text = log.read_text(encoding="ascii", errors="replace") if log.exists() else ""
    if proc.returncode not in (0, 1) and not text:
        raise LabError(f"sipp (caller) exited with status {proc.returncode} before any call: "
                       f"{_last_error(workdir, run)}", fix=f"see {out}")
    truths = parse_caller_log(text, calls)
    media.attribute(truths)
    return truths


def _last_error(workdir: Path, run: int) -> str:
    for path in (workdir / f"caller-{run}-errors.log", workdir / f"caller-{run}.out"):
        lines = [ln.strip() for ln in (path.read_text(errors="replace").splitlines()
                                       if path.exists() else []) if ln.strip()]
        if lines:
            return lines[-1][-200:]
    return "no error message"
