"""Issue 18's proof: the deployment path of docker/ run end to end with podman and Debian 12's
podman-compose. It runs the README's Docker commands (tests/deploy/steps.py) in order from
docker/: base images from debootstrap roots, the three images built, the stack up, a trunk to a
SIPp callee on the host (the lab's simulator, on the compose network's gateway address), a
10-call campaign, `cdr export` inside the controller container; the listened ms are compared
with SIPp's log; then the stack is stopped and started and the campaign is still there.

Only under `make test-deploy` (root, podman, podman-compose; ~6 min with cached base roots).
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from sc_asterisk.lab.instance import LabPorts
from sc_asterisk.lab.sipp import CalleePlan, Simulator

sys.path.insert(0, str(Path(__file__).parent))
from steps import CAMPAIGN, RESTART, SETUP  # noqa: E402

pytestmark = pytest.mark.deploy

DOCKER = Path(__file__).resolve().parents[2] / "docker"
GATEWAY = "172.28.0.1"          # the host on the sc-asterisk network (its subnet: steps.py)
MSG_MS, NOTICE_MS = 4000, 3000
# SIPp answers after 300 ms and hangs up after HOLD ms: mid-message, mid-notice, after both.
HOLDS = [1500, 2500, 3500, 4500, 5500, 6000, 6500, 8500, 9000, 2000]
NUMBERS = [f"+3319918{i:04d}" for i in range(len(HOLDS))]
TOLERANCE_MS = 250
# Files the test writes in docker/ (all ignored by git) and removes again.
MADE = ["secrets", "asterisk-etc", "sounds", "exports", "message.wav", "notice.wav",
        "contacts.csv"]


def _offset() -> int:
    return int(os.environ.get("SC_ASTERISK_TEST_LAB_OFFSET", "3"))


class Deploy:
    """Runs steps from docker/ with the test's variables; keeps a log and every step's time."""

    def __init__(self, log: Path):
        ports = LabPorts.offset(_offset())
        self.callee_port = ports.callees
        self.env = {**os.environ,
                    "COMPOSE": "podman-compose -p sc-asterisk", "ENGINE": "podman",
                    "SC_BOOKWORM_BASE": "sc-asterisk-base/debian:bookworm",
                    "SC_SID_BASE": "sc-asterisk-base/debian:sid",
                    "SC_SIP_PORT": str(ports.sip),
                    "SC_RTP_PORTS": f"{ports.rtp_start}-{ports.rtp_start + 99}",
                    "CARRIER": f"{GATEWAY}:{ports.callees}"}
        self.log = open(log, "a")
        self.times: list[tuple[str, float]] = []

    def run(self, step: str, check: bool = True, timeout: float = 900) -> str:
        started = time.monotonic()
        self.log.write(f"\n$ {step}\n")
        self.log.flush()
        done = subprocess.run(["bash", "-c", "set -o pipefail; " + step], cwd=DOCKER, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        self.times.append((step, time.monotonic() - started))
        self.log.write(done.stdout + done.stderr)
        self.log.flush()
        if check:
            assert done.returncode == 0, f"step failed ({done.returncode}): {step}\n" \
                                         f"{(done.stdout + done.stderr)[-1500:]}"
        return done.stdout

    def teardown(self) -> None:
        """The stack, its volumes and network, and the files the test made in docker/."""
        self.run("$COMPOSE down -v", check=False)
        self.run("$ENGINE network rm sc-asterisk", check=False)
        for name in MADE:
            path = DOCKER / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _require_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the deployment test needs root (rootful podman, debootstrap)")
    missing = [t for t in ("podman", "podman-compose", "debootstrap", "openssl", "sox", "sipp")
               if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run make deploy-deps")


@pytest.fixture
def deploy(tmp_path):
    _require_tools()
    if (DOCKER / "secrets").exists() and not (DOCKER / "secrets" / ".deploy-test").exists():
        pytest.fail(f"{DOCKER / 'secrets'} holds a real deployment's secrets: the test would "
                    "replace them; run it from another checkout")
    d = Deploy(tmp_path / "deploy.log")
    d.teardown()                         # what an interrupted run left
    yield d
    d.log.write("\ntimes:\n" + "".join(f"{s:7.1f} s  {c[:90]}\n" for c, s in d.times))
    if os.environ.get("SC_ASTERISK_DEPLOY_KEEP") != "1":
        d.teardown()
    d.log.close()
    shutil.copy(tmp_path / "deploy.log", Path(os.environ.get("SC_ASTERISK_DEPLOY_LOG",
                                                             "/tmp/sc-asterisk-deploy.log")))


def _write_inputs() -> None:
    for name, seconds, freq in (("message", MSG_MS // 1000, 440), ("notice", NOTICE_MS // 1000, 660)):
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(DOCKER / f"{name}.wav"),
                        "synth", str(seconds), "sine", str(freq)], check=True)
    (DOCKER / "contacts.csv").write_text("phone\n" + "".join(n + "\n" for n in NUMBERS))


def _health(d: Deploy) -> None:
    """Each service's compose health check, run now (podman 4.3 schedules them with systemd
    timers, absent here): pg_isready, `asterisk -rx`, `node check`."""
    for service in ("postgres", "asterisk", "controller"):
        d.run(f"$ENGINE healthcheck run sc-asterisk_{service}_1")


def _wait_completed(d: Deploy, status_step: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = d.run(status_step)
        if "deploy  completed" in out:
            return out
        assert time.monotonic() < deadline, f"campaign not completed in {timeout} s:\n{out}"
        time.sleep(2)


def _epoch_ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


def test_the_readme_deployment_runs_a_campaign_and_keeps_its_data(deploy, tmp_path):
    d = deploy
    (DOCKER / "secrets").mkdir(mode=0o700)
    (DOCKER / "secrets" / ".deploy-test").touch()
    _write_inputs()
    for step in SETUP:
        d.run(step)
    _health(d)
    # The AMI user admits the compose network only; the controller runs unprivileged; the
    # database password is in no container's configuration (environment, labels, command).
    manager = (DOCKER / "asterisk-etc" / "manager.conf").read_text()
    assert [ln for ln in manager.splitlines() if ln.startswith(("permit", "deny"))] == \
        ["deny = 0.0.0.0/0.0.0.0", "permit = 172.28.0.0/255.255.255.0"], manager
    assert d.run("$ENGINE exec sc-asterisk_controller_1 id -u").strip() == "10001"
    password = (DOCKER / "secrets" / "postgres_password").read_text().strip()
    for service in ("postgres", "asterisk", "controller"):
        assert password not in d.run(f"$ENGINE inspect sc-asterisk_{service}_1")

    plan = CalleePlan()
    for number, hold in zip(NUMBERS, HOLDS):
        plan.add(number, "answer", ring_ms=300, hold_ms=hold)
    *prepare, status, export = CAMPAIGN
    with Simulator(plan, port=d.callee_port, host=GATEWAY, workdir=tmp_path / "sipp") as sim:
        for step in prepare:
            d.run(step)
        out = _wait_completed(d, status, 120)
        sim.check_running()
        truth = sim.truth()
    assert "answered=10" in out, out
    d.run(export)
    rows = list(csv.DictReader(open(DOCKER / "exports" / "deploy.csv", encoding="utf-8-sig")))
    assert len(rows) == 10 and {r["outcome"] for r in rows} == {"answered"}, rows

    # Numbers are pseudonymised in the export: each SIPp call is the row answered at its time.
    assert len(truth) == 10 and all(t.outcome == "answered" for t in truth), truth
    deltas = []
    for t in truth:
        row = min(rows, key=lambda r: abs(_epoch_ms(r["answer_at"]) - t.answer_ms))
        assert abs(_epoch_ms(row["answer_at"]) - t.answer_ms) <= TOLERANCE_MS, (row, t)
        assert abs(_epoch_ms(row["end_at"]) - t.end_ms) <= TOLERANCE_MS, (row, t)
        heard = t.hold_ms_measured if t.ended_by == "callee" else MSG_MS + NOTICE_MS
        message, notice = min(heard, MSG_MS), max(0, min(heard - MSG_MS, NOTICE_MS))
        got = int(row["message_listened_ms"]), int(row["notice_listened_ms"])
        deltas += [got[0] - message, got[1] - notice]
        assert abs(got[0] - message) <= TOLERANCE_MS and abs(got[1] - notice) <= TOLERANCE_MS, \
            (row, t.hold_ms_measured)
    d.log.write(f"\nlistened ms - SIPp: {deltas} (max |delta| {max(map(abs, deltas)):.0f} ms)\n")
    # Asterisk's CEL log reaches the controller (uid 10001, read-only): each call's segment
    # starts, what a restarted controller settles a dead one's calls from.
    marks = d.run("$COMPOSE exec -T controller grep -c sc-segment "
                  "/srv/sc-asterisk/asterisk-log/sc-cel.json")
    reached = sum(1 + (r["notice_stop_reason"] != "not_reached") for r in rows)
    count = re.findall(r"^(\d+)$", marks, re.M)       # podman-compose echoes around it
    assert count and int(count[-1]) == reached, (marks, reached)

    # Stop and start again: PostgreSQL's volume kept the campaign and its calls.
    down, up, status_again = RESTART
    d.run(down)
    assert "sc-asterisk_postgres_1" not in d.run("$ENGINE ps -a --format '{{.Names}}'")
    d.run(up)
    out = d.run(status_again)
    assert "deploy  completed" in out and "answered=10" in out, out
    _health(d)
