"""Run one Asterisk of the lab inside the cached root, with config rendered by the project.

An instance lives under ``ROOT/srv/sc-asterisk/<name>/`` (etc, run, log, lib, spool, sounds):
paths that Asterisk inside the chroot and the controller outside both reach.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..asterisk_conf import NodeConfig, SipEndpoint, write
from ..asterisk_conf.token import installation_agi_token
from ..config import read_or_create_secret
from ..errors import LabError
from ..nodes import NodeInfo
from .root import DEFAULT_CACHE, is_provisioned, module_dir, require_root_user, root_path


@dataclass(frozen=True)
class LabPorts:
    """Ports of one lab instance; every instance must use its own."""

    ami: int = 5038
    sip: int = 5060
    agi: int = 4573
    callees: int = 5070
    rtp_start: int = 10000
    rtp_end: int = 10999

    @classmethod
    def offset(cls, n: int) -> "LabPorts":
        """Ports for the n-th parallel instance (tests use n >= 1)."""
        return cls(5038 + 10000 * n, 5060 + 10000 * n, 4573 + 10000 * n, 5070 + 10000 * n,
                   10000 + 1000 * n, 10999 + 1000 * n)


class LabInstance:
    """One lab Asterisk. Example::

        lab = LabInstance("default")
        lab.up()
        print(lab.status())
        lab.down()
    """

    CALLEES_ENDPOINT = "lab"   # the lab trunk: campaigns dial PJSIP/NUMBER@lab

    def __init__(self, name: str = "default", ports: LabPorts = LabPorts(),
                 cache_dir: Path = DEFAULT_CACHE, agi_token: str | None = None):
        if not name.replace("-", "").isalnum():
            raise LabError(f"bad lab instance name {name!r}", fix="use letters, digits and '-'")
        self.name = name
        self.ports = ports
        self.root = root_path(cache_dir)
        self.inner = f"/srv/sc-asterisk/{name}"   # as Asterisk sees it
        self.host_dir = self.root / self.inner.lstrip("/")
        self.state_file = self.host_dir / "lab.json"
        # The FastAGI token rendered into SC_AGI: by default this installation's (its key
        # file); a harness whose controller runs with a key of its own (the benchmarks) gives
        # the token of that key.
        self.agi_token = agi_token

    # -- paths ------------------------------------------------------------------------------
    def host(self, inner_path: str) -> Path:
        return self.root / inner_path.lstrip("/")

    @property
    def callers_port(self) -> int:
        """The source port of the lab's simulated inbound callers (SIPp UAC)."""
        return self.ports.callees + 2

    @property
    def second_agi_port(self) -> int:
        """Where a second controller of the lab listens (HA tests): the node's dialplan tries
        it when a call's own controller is lost."""
        return self.ports.agi + 1

    @property
    def conf_file(self) -> str:
        return f"{self.inner}/etc/asterisk.conf"

    @property
    def log_file(self) -> Path:
        return self.host_dir / "log" / "messages.log"

    def node_info(self) -> NodeInfo:
        return NodeInfo(name=f"lab-{self.name}", ami_host="127.0.0.1", ami_port=self.ports.ami,
                        ami_user="sc-controller", ami_secret=self._secret(),
                        agi_host="127.0.0.1", agi_port=self.ports.agi,
                        sounds_dir=str(self.host_dir / "sounds"),
                        asterisk_sounds_dir=f"{self.inner}/sounds",
                        trunk_endpoint=self.CALLEES_ENDPOINT,
                        cel_file=str(self.host_dir / "log" / "sc-cel.json"))

    def _secret(self) -> str:
        return read_or_create_secret(self.host_dir / "secrets" / "ami")

    # -- lifecycle --------------------------------------------------------------------------
    def render(self) -> None:
        cfg = NodeConfig(
            node=f"lab-{self.name}", etc_dir=f"{self.inner}/etc", run_dir=f"{self.inner}/run",
            log_dir=f"{self.inner}/log", lib_dir=f"{self.inner}/lib",
            spool_dir=f"{self.inner}/spool", mod_dir=module_dir(self.root),
            ami_secret=self._secret(), ami_port=self.ports.ami, sip_port=self.ports.sip,
            agi_port=self.ports.agi, agi_token=self.agi_token or installation_agi_token(),
            agi_fallbacks=(f"127.0.0.1:{self.second_agi_port}",),
            sounds_dir=f"{self.inner}/sounds", rtp_start=self.ports.rtp_start, rtp_end=self.ports.rtp_end,
            endpoints=(SipEndpoint(name=self.CALLEES_ENDPOINT,
                                   contact=f"sip:127.0.0.1:{self.ports.callees}",
                                   match=f"127.0.0.1:{self.ports.callees}",
                                   comment="the lab's simulated callees (SIPp)"),
                       SipEndpoint(name="lab-inbound",
                                   contact=f"sip:127.0.0.1:{self.callers_port}",
                                   match=f"127.0.0.1:{self.callers_port}",
                                   comment="simulated people calling the campaign number back")))
        for sub in ("run", "log", "lib", "spool", "sounds"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_hosts()
        write(cfg, self.host_dir / "etc")

    def _write_hosts(self) -> None:
        """The root shares the host's network but not its /etc/hosts: without one, Asterisk
        asks DNS for this machine's name on every call, and calls stall when DNS is slow."""
        hosts = self.root / "etc" / "hosts"
        wanted = f"127.0.0.1\tlocalhost {socket.gethostname()}\n::1\tlocalhost ip6-localhost\n"
        if not hosts.exists() or hosts.read_text() != wanted:
            hosts.write_text(wanted)

    def up(self, timeout: float = 30.0) -> NodeInfo:
        """Render the config, start Asterisk and wait until it is fully booted."""
        require_root_user()
        if not is_provisioned(self.root):
            raise LabError(f"no Asterisk root at {self.root}", fix="run: sc-asterisk lab up")
        if self.pid() is not None:
            return self.node_info()
        # A just-stopped Asterisk may take a moment to release its port.
        deadline = time.monotonic() + 5.0
        while _tcp_open("127.0.0.1", self.ports.ami):
            if time.monotonic() > deadline:
                raise LabError(f"port {self.ports.ami} (AMI) is already in use",
                               fix="stop what listens there or choose another lab instance")
            time.sleep(0.1)
        self.render()
        out = open(self.host_dir / "log" / "console.log", "ab")
        proc = subprocess.Popen(["chroot", str(self.root), "asterisk", "-f", "-C", self.conf_file],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        out.close()
        self.state_file.write_text(json.dumps({"pid": proc.pid, "conf": self.conf_file,
                                               "ports": asdict(self.ports)}))
        self._wait_booted(proc, timeout)
        return self.node_info()

    def _wait_booted(self, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise LabError(f"Asterisk exited at start (status {proc.returncode})",
                               fix=f"see {self.host_dir / 'log' / 'console.log'}")
            done = self.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
            if done is not None and "fully booted" in done.lower() and \
                    _tcp_open("127.0.0.1", self.ports.ami):
                return
            time.sleep(0.1)
        self.down()
        raise LabError(f"Asterisk did not finish booting in {timeout:.0f}s",
                       fix=f"see {self.log_file}")

    def rx(self, command: str, timeout: float = 10.0) -> str | None:
        """Run an Asterisk CLI command through the instance's control socket (None if down)."""
        try:
            out = subprocess.run(["chroot", str(self.root), "asterisk", "-C", self.conf_file,
                                  "-rx", command], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0 or "Unable to connect" in out.stdout + out.stderr:
            return None
        return out.stdout

    def pid(self) -> int | None:
        """The pid `up` started, if that process is still this instance's Asterisk."""
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        pid = int(state["pid"])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return None
        if self.conf_file.encode() not in cmdline:
            return None  # the pid was reused by something else: never signal it
        return pid

    def down(self, timeout: float = 10.0) -> bool:
        """Stop the Asterisk that `up` started (and only it). True if one was running."""
        pid = self.pid()
        if pid is None:
            self.state_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.state_file.unlink(missing_ok=True)
        return True

    def status(self) -> dict:
        """The truth: is our process alive, does AMI accept connections, which version."""
        pid = self.pid()
        version = self.rx("core show version", timeout=5) if pid else None
        return {"instance": self.name, "root": str(self.root), "provisioned": is_provisioned(self.root),
                "pid": pid, "running": pid is not None,
                "ami": f"127.0.0.1:{self.ports.ami}",
                "ami_listening": _tcp_open("127.0.0.1", self.ports.ami),
                "sip": f"127.0.0.1:{self.ports.sip}/udp", "agi": f"127.0.0.1:{self.ports.agi}",
                "callees": f"127.0.0.1:{self.ports.callees}/udp",
                "version": version.strip() if version else None, "log": str(self.log_file)}


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    try:
        return state.read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _tcp_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
