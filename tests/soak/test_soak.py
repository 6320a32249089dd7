"""Soak: one bounded campaign of short scripted calls (10,000 by default) through the lab, with
the controller as a real `serve` process.

Shows: no lost record and no stuck attempt (every attempt final, every call SIPp answered is
recorded with what was heard), nobody dialed twice, the controller's memory flat (RSS sampled at
start, middle and end), no leaked file descriptors and no live FastAGI session left. The figures
go to bench/results.json under "soak" (read, merged, replaced: other keys are kept).

    SC_ASTERISK_SOAK=1 SC_ASTERISK_SOAK_CALLS=10000 SC_ASTERISK_SOAK_CPS=40 pytest tests/soak
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, insert, select

from campaigns import make_campaign
from sc_asterisk.db import CallAttempt, CallRecord, Contact, SegmentListen
from sc_asterisk.dialer.campaigns import get_campaign, queue_contacts
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.lab.sipp import CalleePlan, Simulator

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results.json"
FINAL = {"finished", "unknown", "failed", "skipped"}


def proc_figures(pid: int) -> dict:
    """RSS (kB), open file descriptors and CPU seconds used so far, from /proc."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
               .splitlines() if line.startswith("VmRSS:"))
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime
    return {"rss_kb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "cpu_s": round(cpu_s, 1)}


def agi_sessions(port: int) -> int:
    """Established TCP connections to the controller's FastAGI port (one per live session)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def counts(db, name) -> dict:
    with db.session() as s:
        cid = get_campaign(s, name).id
        states = dict(s.execute(select(CallAttempt.state, func.count())
                                .where(CallAttempt.campaign_id == cid)
                                .group_by(CallAttempt.state)).all())
        status = get_campaign(s, name).status
    return {"status": status, "states": states}


def merge_results(key: str, figures: dict) -> None:
    """Read-merge-replace: keys written by others (bench) are kept."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(RESULTS.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    data[key] = figures
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, prefix=".results.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, RESULTS)


def test_soak(lab, db, short_prompts, tmp_path):
    calls = int(os.environ.get("SC_ASTERISK_SOAK_CALLS", "10000"))
    cps = float(os.environ.get("SC_ASTERISK_SOAK_CPS", "40"))
    channels = int(os.environ.get("SC_ASTERISK_SOAK_CHANNELS", "120"))
    assert calls <= 20000
    nums = [f"+33199{70 + i // 10000:02d}{i % 10000:04d}" for i in range(calls)]
    make_campaign(db, short_prompts, "soak", [], max_channels=channels, cps=cps,
                  ring_timeout_s=5)
    with db.session() as s:
        s.execute(insert(Contact), [{"e164": n, "time_zone": "Europe/Paris", "list_name": "soak"}
                                    for n in nums])
        ids = s.scalars(select(Contact.id).where(Contact.list_name == "soak")).all()
        queue_contacts(s, get_campaign(s, "soak"), ids)
    plan = CalleePlan()
    for i, n in enumerate(nums):
        # Two in three hear the whole 1 s script; one in three hangs up mid-message.
        plan.add(n, "answer", ring_ms=20, hold_ms=400 if i % 3 == 2 else 3000)

    home, log = tmp_path / "home", open(tmp_path / "serve.log", "wb")
    agi_port = lab.ports.agi
    samples = {}
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        controller = subprocess.Popen(
            [sys.executable, "-m", "sc_asterisk", "--db", db.url, "serve",
             "--lab", f"{lab.name}:{(lab.ports.ami - 5038) // 10000}", "--drain-timeout", "30"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, "SC_ASTERISK_HOME": str(home)})
        time.sleep(3)                          # imports done, AMI logged in, AGI listening
        samples["idle"] = proc_figures(controller.pid)
        set_status(db, "soak", "running")
        started = time.monotonic()
        marks = {"start": calls // 20, "middle": calls // 2, "end": calls * 19 // 20}
        peak_sessions = 0
        deadline = started + calls / cps * 3 + 120
        while time.monotonic() < deadline:
            now = counts(db, "soak")
            done = sum(n for state, n in now["states"].items() if state in FINAL)
            for mark, at in list(marks.items()):
                if done >= at:
                    samples[mark] = {**proc_figures(controller.pid), "done": done,
                                     "t_s": round(time.monotonic() - started, 1),
                                     "agi_sessions": agi_sessions(agi_port)}
                    del marks[mark]
            peak_sessions = max(peak_sessions, agi_sessions(agi_port))
            if now["status"] == "completed":
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        time.sleep(2)                          # let the last sessions close
        samples["after"] = {**proc_figures(controller.pid), "agi_sessions": agi_sessions(agi_port)}
        controller.send_signal(signal.SIGTERM)
        exit_code = controller.wait(timeout=60)
        truth = sim.truth()

    invited = Counter(t.number for t in truth if t.invite_ms is not None)
    answered = {t.number for t in truth if t.outcome == "answered"}
    with db.session() as s:
        cid = get_campaign(s, "soak").id
        rows = s.execute(select(CallAttempt.number, CallAttempt.state, CallRecord.outcome,
                                func.count(SegmentListen.id))
                         .select_from(CallAttempt)
                         .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id)
                         .outerjoin(SegmentListen,
                                    SegmentListen.attempt_id == CallRecord.attempt_id)
                         .where(CallAttempt.campaign_id == cid)
                         .group_by(CallAttempt.id, CallRecord.outcome)).all()
    states = Counter(r[1] for r in rows)
    outcomes = Counter(r[2] for r in rows)
    recorded = {r[0].lstrip("+") for r in rows if r[2] == "answered" and r[3] > 0}
    rss = {k: v["rss_kb"] for k, v in samples.items()}
    figures = {
        "calls": calls, "cps_target": cps, "max_channels": channels,
        "elapsed_s": round(elapsed, 1), "cps_achieved": round(calls / elapsed, 1),
        "states": dict(states), "outcomes": {str(k): v for k, v in outcomes.items()},
        "sipp_invites": sum(invited.values()), "sipp_answered": len(answered),
        "max_invites_per_number": max(invited.values()) if invited else 0,
        "answered_without_record": len(answered - recorded),
        "controller": samples, "rss_growth_kb_start_to_end": rss.get("end", 0) - rss.get("start", 0),
        "peak_agi_sessions": peak_sessions, "serve_exit": exit_code,
        "machine_load_1m": os.getloadavg()[0], "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    merge_results("soak", figures)
    print(json.dumps(figures, indent=2))

    assert exit_code == 0
    assert len(rows) == calls and set(states) <= FINAL, states      # no stuck attempt
    assert figures["max_invites_per_number"] == 1                    # nobody dialed twice
    assert not answered - recorded, sorted(answered - recorded)[:10]  # no lost record
    assert samples["after"]["agi_sessions"] == 0                      # no leaked AGI session
    assert samples["end"]["fds"] <= samples["start"]["fds"] + 10      # no leaked descriptors
    # Flat memory: what the second half adds is small next to what the first half took.
    assert rss["end"] - rss["middle"] <= max(8_000, 0.1 * rss["middle"]), rss
