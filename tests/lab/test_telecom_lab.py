"""Issue 6's proof on the real lab Asterisk: trunks added with the CLI are loaded by `trunk
apply`, registered against a SIPp registrar and carry a test call to a SIPp callee; `node check`
passes on the lab and fails in one line on a wrong secret or a closed port.

Ground truth comes from Asterisk's own answers over AMI and from SIPp's logs. The trunks match
inbound traffic only from TEST-NET addresses, so they never capture the lab's loopback calls,
and every test leaves the lab with no trunk loaded.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sc_asterisk.agi import AgiServer
from sc_asterisk.ami import AmiClient
from sc_asterisk.cli import main
from sc_asterisk.config import Settings
from sc_asterisk.lab.sipp import SCENARIO_DIR, CalleePlan, Simulator, find_sipp

SIP_SECRET = "Reg1str4r-s3cret"


class Telecom:
    """The CLI on a fresh database, with the lab registered as node ``lab``."""

    def __init__(self, lab, db, tmp_path: Path):
        self.lab, self.db, self.tmp = lab, db, tmp_path
        self.home = tmp_path / "home"
        # The lab's installation: its SC_AGI carries this installation key's FastAGI token.
        (self.home / "secrets").mkdir(parents=True, mode=0o700)
        shutil.copy2(Settings.load().secrets_dir / "installation-key",
                     self.home / "secrets" / "installation-key")
        self.conf = lab.host_dir / "etc" / "sc-trunks.conf"

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str, str]:
        with CliRunner().isolation(input=input) as (out, err, _mixed):
            try:
                main(["--db", self.db.url, "--home", str(self.home), *args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()

    def add_node(self, name: str, ami_port: int, agi_port: int, secret_file: Path) -> None:
        lab = self.lab
        code, _out, err = self(
            "node", "add", name, "--ami", f"127.0.0.1:{ami_port}",
            "--ami-secret-file", str(secret_file), "--agi", f"127.0.0.1:{agi_port}",
            "--sounds-dir", str(lab.host_dir / "sounds"),
            "--asterisk-sounds-dir", f"{lab.inner}/sounds",
            "--config-dir", str(lab.host_dir / "etc"))
        assert code == 0, err

    def cli(self, command: str) -> str:
        """An Asterisk CLI command over AMI (the lab's manager user), as text."""
        info = self.lab.node_info()

        async def run() -> str:
            ami = AmiClient(info.ami_host, info.ami_port, info.ami_user, info.ami_secret)
            await ami.connect()
            try:
                response = await ami.action({"Action": "Command", "Command": command})
            except Exception as exc:     # "Command output follows" refusals: object missing
                return f"ERROR {exc}"
            finally:
                ami.close()
            output = response.get("Output", "")
            return "\n".join(output) if isinstance(output, list) else str(output)

        return asyncio.run(run())


@pytest.fixture
def telecom(lab, db, tmp_path):
    t = Telecom(lab, db, tmp_path)
    t.add_node("lab", lab.ports.ami, lab.ports.agi, lab.host_dir / "secrets" / "ami")
    yield t
    # Unload whatever the test added: remove every trunk and apply the now empty file.
    code, out, _ = t("trunk", "list")
    for line in out.splitlines()[1:]:
        t("trunk", "remove", line.split()[0], "--yes")
    t("trunk", "apply", "--node", "lab")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_trunk_appears_after_apply_carries_a_test_call_and_goes_on_remove(telecom, lab, tmp_path):
    port = lab.ports.callees + 7
    code, _out, err = telecom("trunk", "add", "carrier", "--host", f"127.0.0.1:{port}",
                              "--match", "192.0.2.1", "--qualify", "0", "--codecs", "alaw,ulaw",
                              "--node", "lab")
    assert code == 0, err
    # A TCP trunk: its ";transport=tcp" URI parameter must survive Asterisk's comment syntax.
    assert telecom("trunk", "add", "tcpx", "--host", "127.0.0.1:5999", "--transport", "tcp",
                   "--match", "192.0.2.3", "--qualify", "0", "--node", "lab")[0] == 0
    assert "Endpoint:  carrier" not in telecom.cli("pjsip show endpoints")

    code, out, err = telecom("trunk", "apply")
    assert code == 0, err + out
    assert "reloaded successfully" in out

    endpoint = telecom.cli("pjsip show endpoint carrier")
    assert "Endpoint:  carrier" in endpoint
    assert f"carrier/sip:127.0.0.1:{port}" in endpoint
    assert "allow                              : (alaw|ulaw)" in endpoint
    assert "sip:127.0.0.1:5999;transport=tcp" in telecom.cli("pjsip show aor tcpx")

    number = "+33199000301"
    plan = CalleePlan()
    plan.add(number, "answer", ring_ms=300, hold_ms=8000)
    with Simulator(plan, port=port, workdir=tmp_path / "sipp") as sim:
        code, out, err = telecom("trunk", "test", "carrier", "--number", number)
        truth = wait_for(lambda: [t for t in sim.truth() if t.outcome], 5, "SIPp's final line")
    assert code == 0, err + out
    assert "test call     +331******01 answered" in out
    listened = int(re.search(r"listened (\d+) of 2000 ms", out)[1])
    [call] = truth
    assert call.number == "33199000301" and call.outcome == "answered"
    # Asterisk hung up when the 2 s prompt ended: SIPp saw our BYE about 2 s after its answer.
    assert call.ended_by == "caller" and abs(call.hold_ms_measured - 2000) < 300
    assert abs(listened - call.hold_ms_measured) < 300

    assert telecom("trunk", "remove", "carrier", "--yes")[0] == 0
    assert telecom("trunk", "apply", "--node", "lab")[0] == 0
    assert "Unable to find object carrier" in telecom.cli("pjsip show endpoint carrier")
    assert "Endpoint:  tcpx" in telecom.cli("pjsip show endpoints")


@pytest.fixture
def registrar(lab, tmp_path):
    """A SIPp registrar accepting account ``acme`` with SIP_SECRET; yields (port, log, process)."""
    port = lab.ports.callees + 8
    log = tmp_path / "registrar.log"
    proc = subprocess.Popen(
        [find_sipp(), "-sf", str(SCENARIO_DIR / "registrar.xml"), "-i", "127.0.0.1",
         "-p", str(port), "-set", "user", "acme", "-set", "pass", SIP_SECRET,
         "-trace_logs", "-log_file", str(log), "-nostdin"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(lambda: _udp_bound(port) or proc.poll() is not None, 5, "SIPp registrar")
    assert proc.poll() is None, "SIPp registrar exited at start"
    yield port, log, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


def test_registration_against_a_sipp_registrar(telecom, registrar, tmp_path):
    port, log, proc = registrar
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(SIP_SECRET + "\n")
    bad.write_text("wrong-secret\n")
    for name, secret in (("carrier", good), ("badcarrier", bad)):
        code, _out, err = telecom("trunk", "add", name, "--host", f"127.0.0.1:{port}",
                                  "--username", "acme", "--secret-file", str(secret),
                                  "--register", "--match", "192.0.2.2", "--node", "lab")
        assert code == 0, err
    code, out, err = telecom("trunk", "apply")
    assert code == 0, err + out

    # No wait here: `trunk test` itself waits for the registrar's answer to a fresh apply.
    code, out, err = telecom("trunk", "test", "carrier")
    assert code == 0, err + out
    assert "registration  Registered" in out
    assert "qualify       Avail, RTT" in out      # the registrar answers OPTIONS too
    code, out, _ = telecom("trunk", "test", "badcarrier")
    assert code == 1 and "registration  Rejected" in out
    # SIPp's own record: one good REGISTER, one refused. SIPp buffers its log: stop it first.
    proc.terminate()
    proc.wait(5)
    lines = log.read_text()
    assert lines.count("SCR|registered|") >= 1 and lines.count("SCR|forbidden|") >= 1


@pytest.mark.parametrize("args", [
    ["--host", "127.0.0.1\n[evil]\ntype=endpoint"], ["--match", "192.0.2.1;x"],
    ["--codecs", "alaw\n[evil]"], ["--username", "u\nallow=all", "--secret-file", "GOOD"],
    ["--username", "u", "--secret-file", "EVIL"], ["--dial-prefix", "[x]"],
])
def test_injection_is_refused_and_the_lab_config_untouched(telecom, tmp_path, args):
    assert telecom("trunk", "add", "safe", "--host", "192.0.2.9", "--match", "192.0.2.9",
                   "--qualify", "0", "--node", "lab")[0] == 0
    assert telecom("trunk", "apply")[0] == 0
    before = telecom.conf.read_bytes(), telecom.conf.stat().st_mtime_ns
    endpoints = telecom.cli("pjsip show endpoints")
    (tmp_path / "GOOD").write_text("fine-secret\n")
    (tmp_path / "EVIL").write_text("x;y\n[evil]\n")
    args = [str(tmp_path / a) if a in ("GOOD", "EVIL") else a for a in args]
    if "--host" not in args:
        args += ["--host", "192.0.2.10"]
    code, _out, _err = telecom("trunk", "add", "evil", *args, "--node", "lab")
    assert code == 2
    assert telecom("trunk", "apply")[0] == 0       # applying again changes nothing
    assert telecom.conf.read_bytes() == before[0]
    assert telecom.cli("pjsip show endpoints") == endpoints
    assert "evil" not in telecom("trunk", "list")[1]


def test_node_check_passes_on_the_lab(telecom, lab):
    code, out, err = telecom("node", "check", "lab")
    assert code == 0, err + out
    for name in ("ami", "version", "modules", "dialplan", "fastagi"):
        assert f"ok   {name}" in out
    assert "Asterisk 22." in out and "request seen here" in out


def test_node_check_when_the_controller_already_serves_fastagi(telecom, lab):
    async def run():
        server = AgiServer({}, host="127.0.0.1", port=lab.ports.agi)   # like a running `serve`
        await server.start()
        try:
            return await asyncio.to_thread(telecom, "node", "check", "lab")
        finally:
            await server.stop(grace=0)

    code, out, err = asyncio.run(run())
    assert code == 0, err + out
    assert "answered by the running controller" in out


def test_node_check_fails_in_one_line(telecom, lab, tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-secret\n")
    telecom.add_node("wrongsecret", lab.ports.ami, lab.ports.agi, wrong)
    code, out, err = telecom("node", "check", "wrongsecret", "--timeout", "3")
    assert code == 1 and out == ""
    assert err.strip() == (f"node wrongsecret: FAILED: AMI login to 127.0.0.1:{lab.ports.ami} "
                           "refused (check the AMI username and secret in the node settings)")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    telecom.add_node("closed", closed, lab.ports.agi, lab.host_dir / "secrets" / "ami")
    code, out, err = telecom("node", "check", "closed", "--timeout", "3")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"AMI port 127.0.0.1:{closed} is closed (connection refused)" in err

    # Right credentials, but the node's dialplan sends FastAGI elsewhere than this node says.
    telecom.add_node("wrongagi", lab.ports.ami, 1234, lab.host_dir / "secrets" / "ami")
    code, out, err = telecom("node", "check", "wrongagi", "--no-agi")
    assert code == 1
    assert err.strip() == (f"node wrongagi: FAILED: dialplan: SC_AGI is agi://127.0.0.1:"
                           f"{lab.ports.agi}/<installation token>, expected agi://127.0.0.1:1234/"
                           "<installation token> (re-render the globals and reload)")


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
