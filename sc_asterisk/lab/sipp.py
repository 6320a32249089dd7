"""SIPp callee simulator: the lab's callees are real SIP endpoints, and their log is the ground truth.

One SIPp process in UAS mode (``scenarios/callee.xml``) answers every call sent to it. What each
callee does is decided by the dialed number, looked up in an injection file written from a
:class:`CalleePlan`. The scenario logs one line per event, with wall-clock epoch times;
:func:`parse_truth` turns that log into one :class:`CallTruth` per call.

Example::

    plan = CalleePlan()
    plan.add("+33199000001", "answer", ring_ms=500, hold_ms=4000)
    plan.add("+33199000002", "busy")
    with Simulator(plan, port=5070, workdir=tmp_path) as sim:
        ...  # Asterisk dials sip:+33199000001@127.0.0.1:5070
    sim.truth()  # [CallTruth(number='33199000001', outcome='answered', ...), ...]

SIPp keeps its injection file in memory: a changed plan needs a new SIPp process, which
:meth:`Simulator.reload` does (the calls in progress are cut; the earlier truth is kept).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sc_asterisk.errors import ConfigError, LabError
from sc_asterisk.lab.sipp_truth import CallTruth, parse_truth

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
CALLEE_SCENARIO = SCENARIO_DIR / "callee.xml"
CALLER_SCENARIO = SCENARIO_DIR / "caller.xml"
# callee.xml names the injection file in its <lookup>; SIPp runs in the work directory.
PLAN_CSV = "callees.csv"
DTMF_PCAP_DIR = Path("/usr/share/sip-tester")
DTMF_DIGITS = "0123456789*#"
_PCAP_NAMES = [*"0123456789", "star", "pound"]
BEHAVIOURS = ("answer", "busy", "noanswer", "reject", "dtmf", "machine", "human")
# What a machine or human callee says: captures built by `python -m sc_asterisk.lab.pcap`,
# which callee.xml names by their path relative to itself.
MEDIA_DIR = SCENARIO_DIR.parent / "media"
SPOKEN_AUDIO = {"machine": "greeting-machine", "human": "hello-human"}
_RAW_SOCKET_BEHAVIOURS = ("dtmf", *SPOKEN_AUDIO)
_NUMBER = re.compile(r"^\+?[0-9A-Za-z._-]+\Z")


@dataclass(frozen=True)
class Callee:
    """How one dialed number behaves. ``number`` is the lookup key: no leading '+'."""

    number: str
    behaviour: str
    ring_ms: int
    hold_ms: int
    dtmf: str | None = None
    dtmf_at_ms: int | None = None


def callee_key(number: str) -> str:
    """The key the scenario looks a dialed number up by: the user part without a leading '+'.

    Example::

        callee_key("+33199000001") == "33199000001"
    """
    return number[1:] if number.startswith("+") else number


class CalleePlan:
    """The callees the simulator plays, keyed by dialed number.

    Example::

        plan = CalleePlan()
        plan.add("+33199000001", "answer", ring_ms=200, hold_ms=3000)
        plan.add("+33199000002", "dtmf", hold_ms=8000, dtmf="9", dtmf_at_ms=2500)
        plan.write_csv(workdir / "callees.csv")
    """

    def __init__(self) -> None:
        self._callees: dict[str, Callee] = {}

    def add(
        self,
        number: str,
        behaviour: str,
        ring_ms: int = 500,
        hold_ms: int = 5000,
        dtmf: str | None = None,
        dtmf_at_ms: int | None = None,
    ) -> Callee:
        """Add one callee; a number with or without '+' is the same callee.

        ``ring_ms`` runs from the INVITE to the answer (answer, dtmf, machine, human) or the
        refusal (busy: 486, reject: 503); ``hold_ms`` from our 200 OK to our BYE, unless the
        caller hangs up first; a dtmf callee plays ``dtmf`` (0-9 * #) as RFC 4733 events
        ``dtmf_at_ms`` after the ACK. From the ACK on, a machine callee says an answering
        machine's greeting (~5.6 s of speech, a beep, silence: 8 s of PCMA RTP) and a human
        callee a short "Allô ?" (0.55 s, then 4.5 s of silence); then both keep quiet (no RTP)
        until the end of the hold. A hold shorter than the capture cuts it.
        A noanswer callee rings until the caller's CANCEL; a number not in the plan gets 404.

        Example::

            plan.add("0612345678", "noanswer")  # rings until the caller gives up
        """
        if not _NUMBER.match(number):
            raise ConfigError(f"callee number {number!r} is not a dialable number",
                              fix="use digits, with an optional leading '+'")
        if behaviour not in BEHAVIOURS:
            raise ConfigError(f"unknown callee behaviour {behaviour!r}",
                              fix=f"use one of {', '.join(BEHAVIOURS)}")
        for name, value in (("ring_ms", ring_ms), ("hold_ms", hold_ms)):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a whole number of ms >= 0, not {value!r}",
                                  fix=f"pass {name}=1000")
        if behaviour == "dtmf":
            if dtmf is None or len(dtmf) != 1 or dtmf not in DTMF_DIGITS:
                raise ConfigError(f"dtmf callee {number} needs one digit, not {dtmf!r}",
                                  fix="pass dtmf='1' (0-9, * or #)")
            if dtmf_at_ms is None:
                dtmf_at_ms = hold_ms // 2
            if not isinstance(dtmf_at_ms, int) or not 0 <= dtmf_at_ms < hold_ms:
                raise ConfigError(f"dtmf_at_ms={dtmf_at_ms!r} is not within the hold of {hold_ms} ms",
                                  fix="pass 0 <= dtmf_at_ms < hold_ms")
        elif dtmf is not None or dtmf_at_ms is not None:
            raise ConfigError(f"callee {number} sends a digit but its behaviour is {behaviour!r}",
                              fix="use behaviour='dtmf'")
        key = callee_key(number)
        if key in self._callees:
            raise ConfigError(f"callee {number} is already in the plan",
                              fix="add each number once")
        callee = Callee(key, behaviour, ring_ms, hold_ms, dtmf, dtmf_at_ms)
        self._callees[key] = callee
        return callee

    def get(self, number: str) -> Callee | None:
        """The callee for a dialed number, with or without '+'; None when not planned."""
        return self._callees.get(callee_key(number))

    def __len__(self) -> int:
        return len(self._callees)

    def __iter__(self) -> Iterator[Callee]:
        return iter(self._callees.values())

    @property
    def has_dtmf(self) -> bool:
        """True when a callee plays a digit (SIPp then needs a raw socket: root)."""
        return any(c.behaviour == "dtmf" for c in self._callees.values())

    @property
    def raw_socket_behaviours(self) -> list[str]:
        """The plan's behaviours that send RTP through SIPp's raw socket (root needed)."""
        return sorted({c.behaviour for c in self._callees.values()
                       if c.behaviour in _RAW_SOCKET_BEHAVIOURS})

    def csv_text(self) -> str:
        """The SIPp injection file: ``number;behaviour;ring_ms;hold_ms;dtmf;dtmf_at_ms``."""
        lines = ["SEQUENTIAL"]
        for c in self._callees.values():
            # Every field is written: SIPp reads an empty field as an empty string, and the
            # scenario's <todouble> wants numbers.
            lines.append(f"{c.number};{c.behaviour};{c.ring_ms};{c.hold_ms};"
                         f"{c.dtmf or '-'};{c.dtmf_at_ms or 0}")
        return "\n".join(lines) + "\n"

    def write_csv(self, path: Path) -> Path:
        """Write the injection file; SIPp refuses an empty one, so the plan must have a callee."""
        if not self._callees:
            raise ConfigError("the callee plan is empty", fix="add at least one callee")
        path = Path(path)
        path.write_text(self.csv_text(), encoding="ascii")
        return path


def find_sipp() -> str:
    """The sipp executable, or LabError naming the package to install."""
    path = shutil.which("sipp")
    if path is None:
        raise LabError("sipp not found", fix="apt-get install sip-tester")
    return path


def _udp_port_bound(host: str, port: int) -> bool:
    """True when some socket is bound to host:port (read from /proc, without touching it)."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    wildcard = f"00000000:{port:04X}"
    try:
        with open("/proc/net/udp", encoding="ascii") as table:
            next(table)
            return any(line.split()[1] in (want, wildcard) for line in table)
    except OSError:
        return False


def _tcp_port_listening(host: str, port: int) -> bool:
    """True when some socket listens on TCP host:port (state 0A in /proc/net/tcp)."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    wildcard = f"00000000:{port:04X}"
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            next(table)
            return any(f[1] in (want, wildcard) and f[3] == "0A"
                       for f in (line.split() for line in table))
    except OSError:
        return False


def srtp_callee_scenario(workdir: Path, key: bytes | None = None) -> Path:
    """A copy of the callee scenario whose answer accepts SRTP: ``RTP/SAVP`` and an SDES
    ``a=crypto`` line (AES_CM_128_HMAC_SHA1_80, the suite every SRTP peer offers first).
    SIPp itself neither encrypts nor decrypts: the answer only negotiates SRTP, so an
    ``answer`` callee (no RTP sent) is what it fits.

    Example: ``Simulator(plan, 5070, tmp, scenario=srtp_callee_scenario(tmp), transport="tcp")``
    """
    import base64
    inline = base64.b64encode(key if key is not None else os.urandom(30)).decode()
    text = CALLEE_SCENARIO.read_text()
    plain = "m=audio [media_port] RTP/AVP 8 0 101"
    if plain not in text:
        raise LabError("callee.xml's SDP answer changed", fix="update srtp_callee_scenario")
    text = text.replace(plain, "m=audio [media_port] RTP/SAVP 8 0 101\n"
                               f"      a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}")
    # relative media paths are looked up next to the scenario: make them absolute
    text = text.replace('"../media/', f'"{MEDIA_DIR}/')
    path = Path(workdir) / "callee-srtp.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def check_port_free(host: str, port: int, transport: str = "udp") -> None:
    """LabError naming the port when some socket already holds host:port (UDP or TCP)."""
    if transport == "tcp":
        if _tcp_port_listening(host, port):
            raise LabError(f"TCP {host}:{port} is already in use",
                           fix="stop what listens there or pick another port")
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
    except OSError as err:
        raise LabError(f"UDP {host}:{port} is already in use ({err.strerror})",
                       fix="stop what listens there or pick another port") from err
    finally:
        probe.close()


class Simulator:
    """One SIPp UAS answering every call sent to host:port, as the plan says.

    Files go to ``workdir``: ``callees.csv`` and, per SIPp run N, ``callee-N.log`` (the truth),
    ``callee-N-errors.log`` and ``callee-N.out``.

    Example::

        with Simulator(plan, port=25070, workdir=tmp_path) as sim:
            run_campaign()
        assert {t.outcome for t in sim.truth()} == {"answered"}
    """

    def __init__(self, plan: CalleePlan, port: int, workdir: Path, host: str = "127.0.0.1",
                 media_port: int | None = None, transport: str = "udp",
                 scenario: Path = CALLEE_SCENARIO):
        if transport not in ("udp", "tcp"):
            raise ConfigError(f"unknown SIPp transport {transport!r}",
                              fix="use udp or tcp (this SIPp has no TLS: put a TLS relay in "
                                  "front of a tcp callee)")
        self.transport = transport
        self.scenario = Path(scenario)
        self.plan = plan
        self.port = port
        self.host = host
        self.media_port = media_port if media_port is not None else port + 1000
        self.workdir = Path(workdir)
        self._proc: subprocess.Popen | None = None
        self._runs = 0

    def _log_path(self, run: int) -> Path:
        return self.workdir / f"callee-{run}.log"

    def command(self, run: int | None = None) -> list[str]:
        """The SIPp command line of a run (the next one by default)."""
        run = self._runs + 1 if run is None else run
        return [
            find_sipp(), "-sf", str(self.scenario),
            "-t", "u1" if self.transport == "udp" else "t1",
            "-inf", PLAN_CSV, "-infindex", PLAN_CSV, "0",
            "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(self.media_port),
            # SIPp's default 10 ms timer would put the hold up to 10 ms off.
            "-timer_resol", "1",
            "-trace_logs", "-log_file", self._log_path(run).name,
            "-trace_err", "-error_file", f"callee-{run}-errors.log",
            "-nostdin",
        ]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_running(self) -> None:
        """LabError with SIPp's last error if it died (a lab test calls this after its calls)."""
        if self._proc is not None and self._proc.poll() is not None:
            out = self.workdir / f"callee-{self._runs}.out"
            raise LabError(f"sipp died (exit {self._proc.returncode}): {self._last_error(out)}",
                           fix=f"see {out}")

    def start(self, timeout: float = 5.0) -> None:
        """Start SIPp and return once it listens on host:port (LabError if it does not)."""
        if self.running:
            raise LabError("the callee simulator is already running", fix="call stop() first")
        command = self.command(self._runs + 1)
        # callee.xml loads every digit's pcap, whatever the plan.
        if not all((DTMF_PCAP_DIR / f"dtmf_2833_{name}.pcap").exists() for name in _PCAP_NAMES):
            raise LabError(f"SIPp's DTMF pcaps are missing from {DTMF_PCAP_DIR}",
                           fix="apt-get install sip-tester")
        # callee.xml loads both captures, whatever the plan.
        missing = [n for n in SPOKEN_AUDIO.values() if not (MEDIA_DIR / f"{n}.pcap").exists()]
        if missing:
            raise LabError(f"the callees' audio {', '.join(missing)} is missing from {MEDIA_DIR}",
                           fix="run: python -m sc_asterisk.lab.pcap")
        raw = self.plan.raw_socket_behaviours
        if raw and os.geteuid() != 0:
            raise LabError(f"{' and '.join(raw)} callees need SIPp to open a raw socket",
                           fix="run the lab as root (or setcap cap_net_raw+ep on sipp)")
        check_port_free(self.host, self.port, self.transport)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.plan.write_csv(self.workdir / PLAN_CSV)
        self._runs += 1
        out = self.workdir / f"callee-{self._runs}.out"
        with open(out, "wb") as sink:
            self._proc = subprocess.Popen(command, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                          stdout=sink, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        deadline = time.monotonic() + timeout
        bound = _udp_port_bound if self.transport == "udp" else _tcp_port_listening
        while not bound(self.host, self.port):
            if self._proc.poll() is not None:
                self._proc = None
                raise LabError(f"sipp exited at start: {self._last_error(out)}",
                               fix=f"see {out}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"sipp did not listen on {self.host}:{self.port} within {timeout} s",
                               fix=f"see {out}")
            time.sleep(0.01)

    def _last_error(self, out: Path) -> str:
        errors = self.workdir / f"callee-{self._runs}-errors.log"
        for path in (errors, out):
            # SIPp's fatal errors are dated lines; its pcap loading chatter is not.
            lines = [ln.strip() for ln in (path.read_text(errors="replace").splitlines()
                                           if path.exists() else []) if ln[:2] == "20"]
            if lines:
                return lines[-1][-200:]
        return "no error message"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop SIPp (SIGTERM, then SIGKILL) and wait for it; calls in progress are cut."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def reload(self, plan: CalleePlan, timeout: float = 5.0) -> None:
        """Serve a new plan: SIPp cannot re-read its injection file, so this restarts it.

        Calls in progress are cut, and callers get no answer for the few ms of the restart;
        the truth of earlier runs stays in :meth:`truth`.
        """
        self.stop()
        self.plan = plan
        self.start(timeout)

    def truth(self) -> list[CallTruth]:
        """The ground truth of every call of every run so far (safe while SIPp runs)."""
        truths: list[CallTruth] = []
        for run in range(1, self._runs + 1):
            path = self._log_path(run)
            if path.exists():
                text = path.read_text(encoding="ascii", errors="replace")
                # A line SIPp is still writing has no newline yet: leave it for next time.
                truths.extend(parse_truth(text[: text.rfind("\n") + 1]))
        return truths

    def invites(self) -> list[tuple[float, str]]:
        """(epoch_ms, number) of every INVITE received, in time order: for CPS and caps."""
        return sorted((t.invite_ms, t.number) for t in self.truth() if t.invite_ms is not None)

    def __enter__(self) -> "Simulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
