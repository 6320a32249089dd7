"""Soak: `serve` killed with SIGKILL at random moments of a campaign, restarted after a random
pause (shorter or longer than SC_RESUME_MS: calls resumed by the new controller, or played on
by the dialplan alone), as the outside check of issue 14 does it. The seed is printed; give it
back to replay a run:

    SC_ASTERISK_SOAK=1 SC_ASTERISK_SOAK_KILLS=6 SC_ASTERISK_SOAK_SEED=1234 \\
        pytest -s tests/soak/test_crash_soak.py

SIPp's log is the truth. Shows: nobody is dialed twice; every callee dialed was answered and
heard the whole script, notice included (our BYE at its end, never a cut at a kill); every
call SIPp answered has a record with answer and end times and listened ms per segment within
250 ms of the truth, `measured` or `reconstructed`. A number never dialed is one whose claim
was committed but whose Originate never left before a kill: it must be `unknown` (never
redialed: nobody can tell it did not ring), and is counted.
"""
import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select

from campaigns import campaign_status, make_campaign, numbers
from crash_checks import RESUME_MS, SCRIPT_MS, check_cdr_matches_sipp, listeners
from harness import kill_9, serve_process, wait_sync
from sc_asterisk.db import CallAttempt
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.lab.sipp import Simulator

HOLD_MS = 25_000          # longer than the script after two losses of its call flow


@pytest.fixture
def prompts(tmp_path):
    """message 4000 ms, notice 3000 ms (as the lab tier's)."""
    out = {}
    for name, seconds, freq in (("message", 4, 440), ("notice", 3, 660)):
        path = tmp_path / f"{name}.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                        "synth", str(seconds), "sine", str(freq)], check=True)
        out[name] = path
    return out


def test_kill_9_at_random_moments(lab, db, prompts, tmp_path):
    seed = int(os.environ.get("SC_ASTERISK_SOAK_SEED") or time.time())
    kills = int(os.environ.get("SC_ASTERISK_SOAK_KILLS", "6"))
    rng = random.Random(seed)
    print(f"\ncrash soak: seed {seed}, {kills} kills")
    nums = numbers(95, 12 * kills)
    make_campaign(db, prompts, "soak-crash", nums, max_channels=10, cps=2, ring_timeout_s=10)
    set_status(db, "soak-crash", "running")
    log = open(tmp_path / "serve.log", "wb")
    holds = {n.lstrip("+"): HOLD_MS for n in nums}
    pauses = []
    with Simulator(listeners(nums, holds), lab.ports.callees, tmp_path) as sim:
        for _ in range(kills):
            proc = serve_process(db.url, lab, log)
            time.sleep(rng.uniform(2.0, 12.0))          # a random moment of the campaign
            kill_9(proc)
            pause = rng.uniform(0.0, 2 * RESUME_MS / 1000)
            pauses.append(round(pause, 2))
            time.sleep(pause)
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "soak-crash") == "completed", 600)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        truth = {t.number: t for t in sim.truth()}
        invited = Counter(t.number for t in sim.truth())
    print(f"pauses after each kill (s): {pauses}")
    assert max(invited.values()) == 1, invited.most_common(3)          # nobody dialed twice
    for number, t in truth.items():
        assert t.outcome == "answered" and t.ended_by == "caller", t
        # the whole script; at most two searches for a controller of silence
        assert SCRIPT_MS - 60 <= t.hold_ms_measured <= SCRIPT_MS + 2 * (RESUME_MS + 1500), t
    with db.session() as s:
        states = dict(s.execute(select(CallAttempt.number, CallAttempt.state)).all())
    never = {n for n in nums if n.lstrip("+") not in truth}
    assert all(states[n] == "unknown" for n in never), {n: states[n] for n in never}
    precision = check_cdr_matches_sipp(db, os.environ["SC_ASTERISK_HOME"], tmp_path,
                                       "soak-crash", truth, {})
    print(f"calls: {len(truth)} answered, {len(never)} never dialed (unknown); "
          f"precision: {dict(precision)}")
