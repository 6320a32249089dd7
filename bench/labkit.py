"""The bench's own lab: one Asterisk (``LabInstance("bench", LabPorts.offset(4))``), SIPp
callees, prompts of exact length, campaigns, and a controller run measured from outside.

Ground truth always comes from SIPp; CPU from /proc (Asterisk) and getrusage (the controller,
which runs in this process while the benchmark itself only waits).

Example::

    with BenchLab(ctx) as lab:
        db = lab.database("listen")
        prompts = lab.prompts(message_ms=6000, notice_ms=4000)
        make_campaign(db, prompts, "listen", numbers(1, 200), cps=10, max_channels=100)
        with lab.simulator(plan) as sim:
            run = asyncio.run(lab.run_campaigns(db, ["listen"]))
"""
from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select

from sc_asterisk.agi.auth import derive_token
from sc_asterisk.audio import import_audio
from sc_asterisk.keys import record_key
from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, Contact, Database
from sc_asterisk.dialer.campaigns import create_campaign, get_campaign, queue_contacts
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.lab.instance import LabInstance, LabPorts
from sc_asterisk.lab.root import DEFAULT_CACHE, is_provisioned, root_path
from sc_asterisk.lab.sipp import CalleePlan, CallTruth, Simulator

from .common import Run
from .machine import proc_cpu_s, self_cpu_s

KEY = "bench-installation-key"


def numbers(block: int, n: int) -> list[str]:
    """*n* fictional numbers (+33 1 99 BB xx xx, ARCEP's fiction range) of one block.

    Example: ``numbers(81, 2) == ["+33199810000", "+33199810001"]``
    """
    return [f"+33199{block:02d}{i:04d}" for i in range(n)]


@dataclass
class CampaignRun:
    """What one measured campaign run took."""

    wall_s: float
    controller_cpu_s: float
    asterisk_cpu_s: float
    cdrs: dict[str, dict] = field(default_factory=dict)   # by attempt id (Cdr AMI events)
    # the controller's database transactions during the campaign, by function (DbWorker.counts)
    transactions: dict[str, int] = field(default_factory=dict)


@dataclass
class CallResult:
    """One attempt as the controller recorded it."""

    attempt_id: str
    number: str
    outcome: str | None
    segments: dict[str, tuple[int, str]]   # role -> (listened ms, stop reason)


# The bench lab's RTP ports: 6,000, two a call (RTP, RTCP), 1,500 calls, clear of the test
# instances' ranges (10000 + 1000 n) and of every instance's SIP, AMI and AGI ports.
BENCH_RTP = (17000, 22999)


class BenchLab:
    """Start the bench's lab Asterisk (and stop it, and only it, at the end)."""

    def __init__(self, ctx: Run):
        self.ctx = ctx
        # The controller runs with the bench's own key (KEY): the node gets that key's token,
        # and the bench needs no installation key in the user's home.
        ports = replace(LabPorts.offset(ctx.lab_offset), rtp_start=BENCH_RTP[0],
                        rtp_end=BENCH_RTP[1])
        self.instance = LabInstance("bench", ports, agi_token=derive_token(KEY))
        self.work = ctx.scratch("lab")

    def __enter__(self) -> "BenchLab":
        if not is_provisioned(root_path(DEFAULT_CACHE)):
            raise RuntimeError("no lab Asterisk root: run `make lab` first")
        self.instance.down()       # a previous run's, found by its own pid file
        self.instance.up()
        return self

    def __exit__(self, *exc) -> None:
        self.instance.down()

    @property
    def asterisk_pid(self) -> int:
        pid = self.instance.pid()
        if pid is None:
            raise RuntimeError("the bench's lab Asterisk is not running")
        return pid

    def database(self, name: str) -> Database:
        """A fresh SQLite database in the scratch directory. Example: ``lab.database("x")``"""
        path = self.work / f"{name}.db"
        for leftover in self.work.glob(f"{name}.db*"):
            leftover.unlink()
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        record_key(db, KEY, "bench")     # the controller checks its key against the database
        return db

    def prompts(self, message_ms: int, notice_ms: int) -> dict[str, Path]:
        """Sine-tone prompts of exact length (8 kHz mono 16-bit, as Asterisk plays them)."""
        out = {}
        for role, ms, freq in (("message", message_ms, 440), ("notice", notice_ms, 660)):
            path = self.work / f"{role}-{ms}.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                            "synth", f"{ms / 1000:.3f}", "sine", str(freq)], check=True)
            out[role] = path
        return out

    def simulator(self, plan: CalleePlan, name: str) -> Simulator:
        """SIPp callees on this lab's port. Example: ``with lab.simulator(plan, "x") as sim:``"""
        return Simulator(plan, self.instance.ports.callees, self.work / f"sipp-{name}")

    async def run_campaigns(self, db: Database, names: list[str], max_channels: int = 1000,
                            between=None) -> list[CampaignRun]:
        """Run the campaigns one after the other on one controller (in this process), each
        measured: wall time, controller CPU (this process), Asterisk CPU (/proc), Cdr events.
        *between(index, run)* runs after each campaign (a ramp stops early on False)."""
        from sc_asterisk.service import Controller
        node = self.instance.node_info()
        controller = Controller(db, node, key=KEY, max_channels={node.name: max_channels})
        cdrs: dict[str, dict] = {}
        controller.links[node.name].ami.on("Cdr", lambda e: cdrs.__setitem__(
            e.get("UniqueID") or e.get("Uniqueid", ""), e))
        runs: list[CampaignRun] = []
        async with controller:
            for index, name in enumerate(names):
                ast0, cpu0, t0 = proc_cpu_s(self.asterisk_pid), self_cpu_s(), time.monotonic()
                counts0 = Counter(controller.worker.counts)
                await controller.run_campaign(name)
                wall = time.monotonic() - t0
                cpu, ast = self_cpu_s() - cpu0, proc_cpu_s(self.asterisk_pid) - ast0
                answered = await asyncio.to_thread(_answered_ids, db, name)
                # Cdr events leave as channels are destroyed, just after the last Hangup.
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline and not answered <= set(cdrs):
                    await asyncio.sleep(0.05)
                runs.append(CampaignRun(wall, cpu, ast, {a: cdrs.get(a) for a in answered},
                                        dict(Counter(controller.worker.counts) - counts0)))
                if between is not None and between(index, runs[-1]) is False:
                    break
        return runs


def make_campaign(db: Database, prompts: dict[str, Path], name: str, nums: list[str],
                  **settings) -> None:
    """A campaign of one attempt per number, lab-ready: always callable, never retried.

    Example: ``make_campaign(db, lab.prompts(6000, 4000), "x", numbers(1, 10), cps=10)``
    """
    settings.setdefault("windows", "always")
    settings.setdefault("retry_policy", NO_RETRY)
    settings.setdefault("compliance_profile", "basic")
    settings.setdefault("ring_timeout_s", 10)
    with db.session() as s:
        for role, path in prompts.items():
            asset = f"bench-{path.stem}"
            if s.scalar(select(AudioAsset).where(AudioAsset.name == asset)) is None:
                import_audio(s, path, asset)
        campaign = create_campaign(s, name, message=f"bench-{prompts['message'].stem}",
                                   notice=f"bench-{prompts['notice'].stem}", **settings)
        contacts = [Contact(e164=n, time_zone="Europe/Paris", list_name=name) for n in nums]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, campaign, [c.id for c in contacts])


def results(db: Database, name: str) -> dict[str, CallResult]:
    """The campaign's attempts by number (without '+', as SIPp logs them).

    Example: ``results(db, "listen")["33199810000"].segments["message"]``
    """
    with db.session() as s:
        cid = get_campaign(s, name).id
        out = {}
        for attempt in s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == cid)):
            record = attempt.record
            segments = {seg.role: (seg.listened_ms, seg.stop_reason)
                        for seg in (record.segments if record else [])}
            out[attempt.number.lstrip("+")] = CallResult(
                attempt.id, attempt.number, record.outcome if record else None, segments)
        return out


def _answered_ids(db: Database, name: str) -> set[str]:
    with db.session() as s:
        cid = get_campaign(s, name).id
        return set(s.scalars(select(CallRecord.attempt_id).join(CallAttempt)
                             .where(CallAttempt.campaign_id == cid,
                                    CallRecord.answer_ms.is_not(None))))


def truth_by_number(calls: list[CallTruth]) -> dict[str, CallTruth]:
    """SIPp's calls by number without '+'. Example: ``truth_by_number(sim.truth())["3319..."]``"""
    return {t.number.lstrip("+"): t for t in calls}


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant. Example: ``max_overlap([(0, 2), (1, 3)]) == 2``"""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def expected_ms(hold_ms: float, script: list[tuple[str, int]]) -> dict[str, float]:
    """What a callee hanging up *hold_ms* after answering heard of each segment.

    Example: ``expected_ms(7000, [("message", 6000), ("notice", 4000)])`` ->
    ``{"message": 6000, "notice": 1000}``
    """
    out, start = {}, 0
    for role, length in script:
        out[role] = max(0.0, min(hold_ms - start, length))
        start += length
    return out
