"""A DTMF opt-out cannot be lost, through the real lab: the database is locked (another
connection holds BEGIN EXCLUSIVE on the SQLite file) for longer than the controller's 60 s
retry bound, the callee presses 9, the controller gets SIGTERM right after the digit. After a
restart, the number is suppressed and never dialed again: SIPp's INVITEs are the truth."""
import signal
import time

import pytest
from sqlalchemy import update

from campaigns import attempts, campaign_status, make_campaign, numbers, plan_for
from harness import lock_sqlite, serve_process, wait_sync
from sc_asterisk.config import Settings
from sc_asterisk.contacts import SuppressionStore
from sc_asterisk.db import CallAttempt
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.keys import read_key
from sc_asterisk.lab.sipp import CalleePlan, Simulator

pytestmark = pytest.mark.usefixtures("home")   # each test: its own home, the key

LOCK_S = 90.0      # the figure; anything past the 60 s retry bound makes the point


def test_an_optout_survives_a_locked_database_and_a_sigterm_right_after_the_digit(
        lab, db, prompts, tmp_path, home):
    warm, opt, other = numbers(72, 3)
    make_campaign(db, prompts, "durable", [warm, opt], max_channels=1, cps=10, ring_timeout_s=5)
    with db.session() as s:
        # the warm-up call comes first: the campaign's script is then in memory, so the
        # opt-out call needs nothing from the locked database to play
        s.execute(update(CallAttempt).where(CallAttempt.number == opt)
                  .values(not_before_ms=int(time.time() * 1000) + 1000))
    set_status(db, "durable", "running")
    plan = CalleePlan()
    plan.add(warm, "answer", ring_ms=100, hold_ms=1500)
    plan.add(opt, "dtmf", ring_ms=100, hold_ms=9000, dtmf="9", dtmf_at_ms=3000)
    journal = home / "optout-journal"
    log = open(tmp_path / "serve.log", "wb")
    path = db.url[len("sqlite:///"):]

    with Simulator(plan, lab.ports.callees, tmp_path / "a") as sim:
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: opt.lstrip("+") in {n for _ms, n in sim.invites()}, 40)
        holder, locked = lock_sqlite(path, LOCK_S)
        assert locked.wait(5)
        locked_at = time.monotonic()
        wait_sync(lambda: journal.is_dir() and any(journal.iterdir()), 20)   # the digit
        proc.send_signal(signal.SIGTERM)
        digit_s = time.monotonic() - locked_at
        proc.wait(timeout=LOCK_S + 90)
        holder.join()
        first_run = [n for _ms, n in sim.invites()]
    assert digit_s < 10                     # the digit came while the database was locked
    assert sorted(first_run) == sorted([warm.lstrip("+"), opt.lstrip("+")])

    make_campaign(db, prompts, "again", [opt, other], max_channels=2, cps=10, ring_timeout_s=5)
    set_status(db, "again", "running")
    with Simulator(plan_for([opt, other], hold_ms=500), lab.ports.callees,
                   tmp_path / "b") as sim:
        proc = serve_process(db.url, lab, log)     # replays the journal before dialing
        wait_sync(lambda: campaign_status(db, "again") == "completed", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        second_run = [n for _ms, n in sim.invites()]
    assert second_run == [other.lstrip("+")]          # the opted-out number: no INVITE
    assert (opt, "skipped", "suppressed") in attempts(db, "again")
    with db.session() as s:
        key = read_key(Settings.load())
        assert SuppressionStore(s, key).is_suppressed(opt) == "opt-out"
    assert not any(journal.iterdir())                  # stored, so no longer journaled
