"""Faults through the real lab, scripted and repeatable: the AMI connection cut, the FastAGI
connection reset mid-call, the database locked for seconds, kill -9 of the controller at five
random (seeded) points of one campaign, and a full disk when writing a report.

Each must leave the campaign resumed (or failed loudly), nobody dialed twice (SIPp's INVITE
count is the truth) and nothing recorded lost. Asterisk stopped and restarted mid-campaign is
tests/lab/test_resilience_lab.py::test_asterisk_restart_mid_campaign.
"""
import asyncio
import os
import random
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import event, select

from bench.synthetic import create_campaign, insert_calls, synthetic_calls
from campaigns import attempts, campaign_status, make_campaign, numbers, wait_until
from harness import kill_9, lock_sqlite, serve_process, serving, wait_sync
from sc_asterisk.db import CallAttempt
from sc_asterisk.dialer.campaigns import get_campaign
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.lab.sipp import CalleePlan, Simulator

pytestmark = pytest.mark.usefixtures("home")   # each test: its own home, the key

FINAL = {"finished", "unknown", "failed"}
# The test prompts (tests/lab/conftest.py): message 4000 ms then notice 3000 ms.
SCRIPT_MS = 7000


def mixed_plan(nums, short_ms=1500, long_ms=8000) -> CalleePlan:
    """Every other callee hangs up mid-message, the others hear the whole script."""
    plan = CalleePlan()
    for i, n in enumerate(nums):
        plan.add(n, "answer", ring_ms=50, hold_ms=short_ms if i % 2 else long_ms)
    return plan


def records(db, name) -> dict[str, dict]:
    """number -> what the database holds about its (single) attempt and record."""
    out = {}
    with db.session() as s:
        cid = get_campaign(s, name).id
        for attempt in s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == cid)):
            rec = attempt.record
            out[attempt.number.lstrip("+")] = {
                "id": attempt.id, "state": attempt.state,
                "outcome": rec.outcome if rec else None,
                "segments": [(g.role, g.listened_ms, g.heard_full, g.stop_reason)
                             for g in rec.segments] if rec else []}
    return out


def check_nothing_lost_nobody_twice(db, name, sim, n):
    """The three promises, from SIPp's truth and the database."""
    invited = Counter(num for _ms, num in sim.invites())
    rows = records(db, name)
    assert len(rows) == n
    assert invited and max(invited.values()) == 1, invited.most_common(3)    # nobody twice
    assert {r["state"] for r in rows.values()} <= FINAL, Counter(r["state"] for r in rows.values())
    truth = {t.number: t for t in sim.truth()}
    for number, t in truth.items():
        if t.outcome == "answered":
            row = rows[number]
            assert row["outcome"] in ("answered", "unknown"), (number, row)
            if row["outcome"] == "answered":
                assert row["segments"], (number, row)          # what was heard is recorded
    for number in set(rows) - set(invited):
        assert rows[number]["state"] in ("unknown", "failed"), rows[number]
    return rows, truth


# -- AMI connection cut ------------------------------------------------------------------------
def test_ami_connection_cut_twice_mid_campaign(lab, db, prompts, tmp_path):
    nums = numbers(60, 24)
    make_campaign(db, prompts, "amicut", nums, max_channels=8, cps=10, ring_timeout_s=5)
    node = lab.node_info()

    async def go(sim):
        async with serving(db, node, "amicut") as run:
            ami = run.controller.links[node.name].ami
            for at in (6, 14):
                await wait_until(lambda: len(sim.invites()) >= at, 30)
                ami.manager.protocol.transport.abort()       # the socket cut under the client
                await wait_until(lambda: not ami.connected, 5)
            await run.until_completed(90)
            await run.stop_dialing()
            return ami.connections

    with Simulator(mixed_plan(nums), lab.ports.callees, tmp_path) as sim:
        connections = asyncio.run(go(sim))
        rows, truth = check_nothing_lost_nobody_twice(db, "amicut", sim, len(nums))
    assert connections >= 3                                   # it reconnected after each cut
    outcomes = Counter(r["outcome"] for r in rows.values())
    assert outcomes["answered"] >= len(nums) - 2 * 8, outcomes  # at most the in-flight ones lost
    assert len(truth) >= len(nums) - 2 * 8                      # and it went on dialing


# -- FastAGI connection reset mid-call ---------------------------------------------------------
class ResettingProxy:
    """A TCP proxy between Asterisk and the controller's FastAGI server that resets (RST) the
    chosen connections once the call flow has sent its first command."""

    def __init__(self, cut, after_s: float = 0.8):
        self.cut, self.after_s = cut, after_s
        self.count = 0
        self.reset_ids: list[str] = []

    async def start(self, target_port: int) -> int:
        self.target_port = target_port
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()

    async def _conn(self, down_r, down_w):
        index, self.count = self.count, self.count + 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        header = {}
        first_command = asyncio.Event()

        async def pump(reader, writer, upward):
            buf = b""
            try:
                while data := await reader.read(65536):
                    if upward and not header:
                        buf += data
                        if b"\n\n" in buf:
                            for line in buf.split(b"\n\n")[0].decode(errors="replace").split("\n"):
                                key, _, value = line.partition(":")
                                header[key.strip()] = value.strip()
                    if not upward:
                        first_command.set()
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            writer.close()

        tasks = [asyncio.create_task(pump(down_r, up_w, True)),
                 asyncio.create_task(pump(up_r, down_w, False))]
        if self.cut(index):
            await first_command.wait()
            await asyncio.sleep(self.after_s)
            self.reset_ids.append(header.get("agi_uniqueid", "?"))
            for writer in (down_w, up_w):
                writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()                      # RST both ways
        await asyncio.gather(*tasks, return_exceptions=True)


def test_fastagi_connection_reset_mid_call_is_resumed(lab, db, prompts, tmp_path):
    nums = numbers(61, 12)
    make_campaign(db, prompts, "agireset", nums, max_channels=6, cps=10, ring_timeout_s=5)
    node = lab.node_info()

    proxy = ResettingProxy(cut=lambda i: i % 3 == 1)

    async def through_proxy(controller):
        # Asterisk is told to reach the call flow through the proxy (the Originate's SC_AGI).
        controller.scheduler.agi_port = await proxy.start(controller.agi.port)

    async def go(sim):
        async with serving(db, node, "agireset", prepare=through_proxy) as run:
            await run.until_completed(90)
            await run.stop_dialing()
            await proxy.stop()
            return proxy.reset_ids, run.controller.agi.active

    plan = CalleePlan()
    for n in nums:
        plan.add(n, "answer", ring_ms=50, hold_ms=9000)
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        reset_ids, active = asyncio.run(go(sim))
        rows, truth = check_nothing_lost_nobody_twice(db, "agireset", sim, len(nums))
    # The proxy resets every third connection, the resumed sessions' included.
    assert len(reset_ids) >= 4 and active == 0
    for number, row in rows.items():
        # Each call went on (issue 14): the dialplan resumed it on a new session at the same
        # point, which measured the whole script; SIPp saw our BYE only after the script.
        assert row["outcome"] == "answered", row
        assert [g[2] for g in row["segments"]] == [True, True], row
        assert truth[number].ended_by == "caller", truth[number]
        assert truth[number].hold_ms_measured >= SCRIPT_MS - 60, truth[number]


# -- the database locked ------------------------------------------------------------------------
def test_database_locked_for_seconds_mid_campaign(lab, db, prompts, tmp_path):
    nums = numbers(62, 16)
    make_campaign(db, prompts, "dblock", nums, max_channels=8, cps=10, ring_timeout_s=5)
    node = lab.node_info()
    path = db.url[len("sqlite:///"):]

    async def go(sim):
        async with serving(db, node, "dblock") as run:
            await wait_until(lambda: len(sim.invites()) >= 5, 30)
            holder, locked = lock_sqlite(path, 4.0)
            await asyncio.to_thread(locked.wait, 5)
            invites_when_locked = len(sim.invites())
            await asyncio.sleep(3.5)
            during = len(sim.invites()) - invites_when_locked
            await asyncio.to_thread(holder.join)
            await run.until_completed(90)
            return during

    with Simulator(mixed_plan(nums), lab.ports.callees, tmp_path) as sim:
        dialed_while_locked = asyncio.run(go(sim))
        rows, truth = check_nothing_lost_nobody_twice(db, "dblock", sim, len(nums))
    assert dialed_while_locked <= 1          # no claim can commit while the lock is held
    # Nobody died, so nothing is unknown: every answered call is recorded with what was heard.
    assert len(truth) == len(nums)
    assert Counter(r["outcome"] for r in rows.values()) == {"answered": len(nums)}


def test_database_locked_longer_than_the_busy_timeout_resumes(lab, db, prompts, tmp_path):
    """Past SQLite's busy timeout (10 s in production; 1 s here, to keep the test short) a
    write fails. The controller must retry and resume, or stop loudly; in `serve` a dead
    dialing loop is silent (the process stays up and dials nothing), so it must resume."""
    event.listen(db.engine, "connect",
                 lambda conn, _record: conn.execute("PRAGMA busy_timeout=1000"))
    db.engine.dispose()
    nums = numbers(64, 16)
    make_campaign(db, prompts, "dblong", nums, max_channels=8, cps=10, ring_timeout_s=5)
    node = lab.node_info()
    path = db.url[len("sqlite:///"):]

    async def go(sim):
        async with serving(db, node, "dblong") as run:
            await wait_until(lambda: len(sim.invites()) >= 5, 30)
            holder, _locked = lock_sqlite(path, 3.0)
            await asyncio.to_thread(holder.join)
            await wait_until(lambda: run.task.done()
                             or campaign_status(db, "dblong") == "completed", 60)
            return run.died()

    with Simulator(mixed_plan(nums), lab.ports.callees, tmp_path) as sim:
        died = asyncio.run(go(sim))
        assert died is None, f"the dialing loop died on a locked database: {died!r}"
        assert campaign_status(db, "dblong") == "completed"
        check_nothing_lost_nobody_twice(db, "dblong", sim, len(nums))


# -- kill -9 at five random points ----------------------------------------------------------------
def answered_records(db, name) -> dict[str, tuple]:
    return {r["id"]: (r["outcome"], tuple(r["segments"])) for r in records(db, name).values()
            if r["outcome"] == "answered" and r["state"] == "finished"}


def test_kill_9_at_five_random_points_of_one_campaign(lab, db, prompts, tmp_path):
    seed = int(os.environ.get("SC_ASTERISK_FAULT_SEED", "9"))
    nums = numbers(63, 60)
    points = sorted(random.Random(seed).sample(range(4, 50), 5))
    make_campaign(db, prompts, "kill5", nums, max_channels=8, cps=12, ring_timeout_s=5)
    set_status(db, "kill5", "running")
    log = open(tmp_path / "serve.log", "wb")
    kept: dict[str, tuple] = {}
    with Simulator(mixed_plan(nums, short_ms=1200, long_ms=8000), lab.ports.callees,
                   tmp_path) as sim:
        proc = serve_process(db.url, lab, log)        # SC_ASTERISK_HOME: the `home` fixture
        for point in points:
            wait_sync(lambda: len(sim.invites()) >= point, 40)
            kept.update(answered_records(db, "kill5"))     # committed before the kill
            kill_9(proc)
            proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "kill5") == "completed", 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        rows, truth = check_nothing_lost_nobody_twice(db, "kill5", sim, len(nums))
    final = answered_records(db, "kill5")
    assert kept                                        # records existed before the kills
    lost = {k: v for k, v in kept.items() if final.get(k) != v}
    assert not lost, f"seed {seed}: records changed or lost after a kill: {lost}"
    states = Counter(r["state"] for r in rows.values())
    assert states["unknown"] <= 5 * 8, (seed, points, states)   # at most the in-flight ones
    assert states["finished"] >= len(nums) - 5 * 8


# -- disk full when writing a report -------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, nearly full, unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        (mount / "filler").write_bytes(b"\0" * 40 * 1024)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def cli(db, home, *args):
    return subprocess.run([sys.executable, "-m", "sc_asterisk", "--db", db.url, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SC_ASTERISK_HOME": str(home)})


def test_disk_full_when_writing_a_report(db, tiny_disk, tmp_path, home):
    from sc_asterisk.db.models_privacy import AuditEntry
    script = [("message", 4000), ("notice", 3000)]
    cid = create_campaign(db, "full", script)
    insert_calls(db, cid, synthetic_calls(1500, script))
    attempts_before = len(attempts(db, "full"))

    for args in (["cdr", "export", "--campaign", "full", "-o", str(tiny_disk / "calls.csv")],
                 ["cdr", "export", "--no-pseudonymise", "-o", str(tiny_disk / "clear.parquet")],
                 ["report", "full", "--html", str(tiny_disk / "r.html"),
                  "--plot", str(tiny_disk / "r.png")]):
        done = cli(db, home, *args)
        assert done.returncode != 0, (args, done.stdout[-300:])          # loud...
        assert "No space left on device" in done.stderr, done.stderr[-500:]
        assert "Traceback" not in done.stderr and done.returncode == 2     # ...in one line
        # ...and clean: no half-written file, no temporary file left behind.
        assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"], args
    # The database is intact and the same export works where there is room.
    done = cli(db, home, "cdr", "export", "--campaign", "full", "-o", str(tmp_path / "ok.csv"))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "ok.csv").read_text().splitlines()) == 1500 + 1
    assert len(attempts(db, "full")) == attempts_before
    with db.session() as s:   # the clear-number export was audited, even though it failed
        audited = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "cdr-export-clear-numbers")).all()
    assert len(audited) == 1
