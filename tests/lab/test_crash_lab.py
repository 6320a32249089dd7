"""A controller crash costs no callee their message (issue 14). `serve` is killed with SIGKILL
while calls are in the message and in the notice; SIPp's log is the truth of what each callee
got: how long their call lasted and who hung up.

- restarted at once: the dialplan finds the restarted controller, whose new FastAGI session
  resumes each call at the same point of the same segment;
- not restarted: after SC_RESUME_MS the dialplan plays the rest of the script itself.
"""
import os
import signal
import subprocess
from collections import Counter

import pytest
from sqlalchemy import text

from campaigns import campaign_status, make_campaign, numbers, plan_for
from crash_checks import (HOLD_MS, RESUME_MS, SCRIPT_MS, SHORT_MS, check_cdr_matches_sipp,
                          check_every_callee_heard_it_all, in_flight_at,
                          kill_when_calls_are_in_both_segments, listeners, now_ms)
from harness import kill_9, run_to_end, serve_process, wait_sync
from sc_asterisk.lab.sipp import CalleePlan, Simulator


def test_kill_9_mid_message_the_restarted_controller_resumes_every_call(lab, db, prompts,
                                                                         tmp_path, home):
    nums = numbers(70, 16)
    make_campaign(db, prompts, "crash1", nums, max_channels=8, cps=2, ring_timeout_s=5)
    from sc_asterisk.dialer.lifecycle import set_status
    set_status(db, "crash1", "running")
    log = open(tmp_path / "serve.log", "wb")
    with Simulator(listeners(nums), lab.ports.callees, tmp_path) as sim:
        proc = serve_process(db.url, lab, log)
        killed_ms, where = kill_when_calls_are_in_both_segments(sim, proc)
        proc = serve_process(db.url, lab, log)           # restarted at once
        wait_sync(lambda: campaign_status(db, "crash1") == "completed", 120)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        # A resumed call lost only the time the controller took to come back.
        truth = check_every_callee_heard_it_all(sim, len(nums), extra_max_ms=RESUME_MS + 500)
    flying = in_flight_at(truth.values(), killed_ms)
    assert Counter(where[n] for n in flying if n in where)["notice"] >= 2
    assert len(flying) >= 4, flying
    # Resumed, not started over: a replay from the start would add what had been heard.
    resumed = (open(tmp_path / "serve.log", encoding="utf-8", errors="replace").read()
               .count("resumed at segment"))
    assert resumed >= len(flying) - 1, resumed
    precision = check_cdr_matches_sipp(db, home, tmp_path, "crash1", truth, flying)
    assert precision[(True, "measured")] >= len(flying) - 1, precision


def test_done_means_60_calls_sigkill_mid_campaign_restart(lab, db, prompts, tmp_path, home):
    """Issue 14's "done means": a 60-call campaign, SIGKILL of serve with calls in the message
    and in the notice, restart. SIPp: every answered callee's call lasted until the script's
    end or their own hang-up, nobody dialed twice. cdr export: every answered call has answer
    and end times and listened ms per segment within 250 ms of SIPp's truth, precision
    marked."""
    nums = numbers(74, 60)
    short = frozenset(n.lstrip("+") for i, n in enumerate(nums) if i % 3 == 2)
    make_campaign(db, prompts, "crash60", nums, max_channels=16, cps=3, ring_timeout_s=5)
    from sc_asterisk.dialer.lifecycle import set_status
    set_status(db, "crash60", "running")
    log = open(tmp_path / "serve.log", "wb")
    with Simulator(listeners(nums, {n: SHORT_MS for n in short}), lab.ports.callees,
                   tmp_path) as sim:
        proc = serve_process(db.url, lab, log)
        killed_ms, where = kill_when_calls_are_in_both_segments(sim, proc, want=3)
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "crash60") == "completed", 180)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        truth = check_every_callee_heard_it_all(sim, len(nums), extra_max_ms=RESUME_MS + 500,
                                                short=short)
    flying = in_flight_at(truth.values(), killed_ms)
    assert len([n for n in flying if n not in short]) >= 6, flying
    precision = check_cdr_matches_sipp(db, home, tmp_path, "crash60", truth, flying)
    print(f"in flight at the kill: {len(flying)}; precision: {dict(precision)}")


def test_kill_9_with_no_controller_the_dialplan_plays_the_rest(lab, db, prompts, tmp_path,
                                                               home):
    nums = numbers(71, 12)
    make_campaign(db, prompts, "crash2", nums, max_channels=8, cps=2, ring_timeout_s=5)
    from sc_asterisk.dialer.lifecycle import set_status
    set_status(db, "crash2", "running")
    log = open(tmp_path / "serve.log", "wb")
    with Simulator(listeners(nums), lab.ports.callees, tmp_path) as sim:
        proc = serve_process(db.url, lab, log)
        killed_ms, where = kill_when_calls_are_in_both_segments(sim, proc)
        flying = in_flight_at(sim.truth(), killed_ms)
        # No controller at all until every call in flight has ended.
        wait_sync(lambda: all(t.end_ms for t in in_flight_at(sim.truth(), killed_ms).values()),
                  SCRIPT_MS / 1000 + RESUME_MS / 1000 + 10)
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "crash2") == "completed", 120)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        truth = check_every_callee_heard_it_all(sim, len(nums), extra_max_ms=RESUME_MS + 700)
    assert len(flying) >= 4
    for number in flying:
        # The silence while the dialplan looked for a controller, then the rest from where it
        # was: a replay from the start would add what had been heard, a skip would cut it.
        assert SCRIPT_MS + RESUME_MS - 100 <= truth[number].hold_ms_measured, truth[number]
    # After the restart, the records of the calls no controller saw end are rebuilt from
    # Asterisk's log; the others were measured.
    precision = check_cdr_matches_sipp(db, home, tmp_path, "crash2", truth, flying)
    assert precision[(True, "reconstructed")] == len(flying), precision
    assert precision[(False, "measured")] == len(truth) - len(flying), precision




def test_kill_9_while_calls_ring_the_dialplan_plays_the_whole_script(lab, db, prompts,
                                                                      tmp_path, home):
    """serve is killed while its calls ring: they are answered with no controller at all. The
    dialplan looks for one for SC_RESUME_MS, then plays the whole script itself from the
    files the Originate gave it (SC_SCRIPT), notice included; the records are rebuilt from
    Asterisk's log after a restart."""
    nums = numbers(78, 3)
    make_campaign(db, prompts, "crash-ring", nums, max_channels=4, cps=10, ring_timeout_s=10)
    from sc_asterisk.dialer.lifecycle import set_status
    set_status(db, "crash-ring", "running")
    plan = CalleePlan()
    for n in nums:
        plan.add(n, "answer", ring_ms=2500, hold_ms=HOLD_MS + RESUME_MS)
    log = open(tmp_path / "serve.log", "wb")
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: len(sim.invites()) == len(nums), 30)
        kill_9(proc)
        assert not any(t.answer_ms for t in sim.truth())          # killed while they rang
        wait_sync(lambda: len(sim.truth()) == len(nums)
                  and all(t.end_ms for t in sim.truth()), SCRIPT_MS / 1000 + 20)
        # the search for a controller, then the whole script, then our BYE
        truth = check_every_callee_heard_it_all(sim, len(nums), extra_max_ms=RESUME_MS + 700)
        for t in truth.values():
            assert t.hold_ms_measured >= SCRIPT_MS + RESUME_MS - 100, t
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "crash-ring") == "completed", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert len(sim.invites()) == len(nums)                    # nobody dialed twice
    precision = check_cdr_matches_sipp(db, home, tmp_path, "crash-ring", truth, {})
    assert precision[(False, "reconstructed")] == len(nums), precision


@pytest.mark.postgres
def test_two_controllers_kill_one_the_other_resumes_its_calls_and_campaign(lab, pg_db, prompts,
                                                                            tmp_path, home):
    """Two controllers on PostgreSQL: A (the node's SC_AGI) and B (the second address of the
    node's SC_AGI_ALL). A is killed mid-campaign: its calls are resumed by B's FastAGI at the
    point they were lost, B adopts them and finishes the campaign, with nobody dialed twice."""
    nums = numbers(73, 16)
    make_campaign(pg_db, prompts, "crash3", nums, max_channels=30, cps=3, ring_timeout_s=5)
    from sc_asterisk.dialer.lifecycle import set_status
    set_status(pg_db, "crash3", "running")
    url = pg_db.engine.url.render_as_string(hide_password=False)
    logs = [open(tmp_path / f"serve-{x}.log", "wb") for x in "ab"]
    with Simulator(listeners(nums), lab.ports.callees, tmp_path) as sim:
        a = serve_process(url, lab, logs[0], agi_port=lab.ports.agi)
        wait_sync(lambda: sim.invites(), 30)          # A dials first: it holds calls
        b = serve_process(url, lab, logs[1], agi_port=lab.second_agi_port)
        killed_ms, where = kill_when_calls_are_in_both_segments(sim, a)
        with pg_db.session() as s:
            held = Counter(s.execute(text(
                "SELECT controller FROM call_attempt WHERE state IN "
                "('originating', 'ringing', 'answered')")).scalars())
        wait_sync(lambda: campaign_status(pg_db, "crash3") == "completed", 120)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 30)
        b.send_signal(signal.SIGTERM)
        assert b.wait(timeout=40) == 0
        truth = check_every_callee_heard_it_all(sim, len(nums), extra_max_ms=600)
    flying = in_flight_at(truth.values(), killed_ms)
    # the killed controller had calls up
    assert sum(n for c, n in held.items() if f"-{a.pid}-" in c) >= 4, held
    resumed = (tmp_path / "serve-b.log").read_text(errors="replace").count("resumed at segment")
    assert resumed >= 2, resumed
    # The resumed calls were measured by B's call flow: within 100 ms of the truth.
    precision = check_cdr_matches_sipp(pg_db, home, tmp_path, "crash3", truth, flying,
                                       tolerance_ms=100)
    assert precision[(True, "measured")] >= resumed, precision


# Killed 1500 ms after the answer; the dialplan searches for a controller until ~4500 ms, then
# plays alone: the digit comes during the search, or in the dialplan's own playback.
@pytest.mark.parametrize("dtmf_at_ms", [3000, 6500], ids=["searching", "alone"])
def test_kill_9_an_optout_pressed_while_the_dialplan_plays_alone_is_kept(lab, db, prompts,
                                                                         tmp_path, home,
                                                                         dtmf_at_ms):
    """Severity 1 (issue 14): serve is killed with a call in its message; the dialplan finds
    no controller and plays the rest itself; the callee presses the campaign's opt-out digit
    then. The playback stops, the confirmation plays, Asterisk logs the opt-out; the
    restarted controller stores it through the opt-out journal before it dials anyone again:
    the number is suppressed, the record shows the opt-out, and it is never dialed again
    (default profile and retry policy)."""
    from sc_asterisk.audio import import_audio
    from sc_asterisk.contacts import SuppressionStore
    from sc_asterisk.db import CallAttempt, CallRecord
    from sc_asterisk.db.models_privacy import SuppressionEntry
    from sc_asterisk.dialer.lifecycle import set_status
    from sc_asterisk.dialer.retries import DEFAULT_POLICY
    from sqlalchemy import select
    from campaigns import attempts
    from harness import lab_key

    confirm_ms, kill_after_ms = 1500, 1500
    confirm = tmp_path / "confirm.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(confirm), "synth",
                    str(confirm_ms / 1000), "sine", "880"], check=True)
    opt, plain = numbers(76, 2)
    settings = dict(max_channels=4, cps=10, ring_timeout_s=5, compliance_profile="fr-cnil",
                    optout_intro="t-intro", optout_confirm="t-confirm",
                    retry_policy=DEFAULT_POLICY.to_json())
    with db.session() as s:
        import_audio(s, prompts["intro"], "t-intro")
        import_audio(s, confirm, "t-confirm")
    make_campaign(db, prompts, "crash-opt1", [opt, plain], **settings)
    set_status(db, "crash-opt1", "running")
    plan = CalleePlan()
    # intro 1000 + message 4000 + notice 3000 ms; the digit comes once the controller is dead
    # and the dialplan has waited SC_RESUME_MS for one: mid-message, in its own playback.
    plan.add(opt, "dtmf", ring_ms=50, hold_ms=20000, dtmf="9", dtmf_at_ms=dtmf_at_ms)
    plan.add(plain, "answer", ring_ms=50, hold_ms=20000)
    log = open(tmp_path / "serve.log", "wb")
    key = opt.lstrip("+")
    with Simulator(plan, lab.ports.callees, tmp_path / "a") as sim:
        proc = serve_process(db.url, lab, log)

        def answered_ms():
            t = next((t for t in sim.truth() if t.number == key), None)
            return None if t is None or t.answer_ms is None else now_ms() - t.answer_ms
        wait_sync(lambda: (answered_ms() or 0) >= kill_after_ms, 60)
        assert answered_ms() < kill_after_ms + 500          # killed in the message
        kill_9(proc)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()) and len(sim.truth()) == 2,
                  30)                                    # no controller until both ended
        truth = {t.number: t for t in sim.truth()}
        # The digit stopped the dialplan's playback: the confirmation, then our BYE; the
        # script (and its resume wait) went on to 11 s for the other callee.
        t = truth[key]
        assert t.ended_by == "caller", t
        assert dtmf_at_ms + confirm_ms - 100 <= t.hold_ms_measured \
            <= dtmf_at_ms + confirm_ms + 1000, t     # (a search round is heard in 0.3 s)
        assert truth[plain.lstrip("+")].hold_ms_measured >= 8000 + RESUME_MS - 100
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: campaign_status(db, "crash-opt1") == "completed", 60)

        def suppressed():
            with db.session() as s:
                return SuppressionStore(s, lab_key()).is_suppressed(opt)
        wait_sync(lambda: suppressed() is not None, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert [n for _ms, n in sim.invites()].count(key) == 1
    journal = os.path.join(home, "optout-journal")     # stored, so no longer journaled
    assert not os.path.isdir(journal) or not os.listdir(journal)
    with db.session() as s:
        entry = s.scalar(select(SuppressionEntry).where(
            SuppressionEntry.number_hash == SuppressionStore(s, lab_key()).pseudonym(opt)))
        assert entry is not None and entry.reason == "opt-out"
        attempt = s.scalar(select(CallAttempt).where(CallAttempt.number == opt))
        record = s.get(CallRecord, attempt.id)
        assert record.opted_out and record.precision == "reconstructed"
        assert {g.role: g.stop_reason for g in record.segments}["message"] == "dtmf"

    # a later campaign with the same audience: the opted-out number gets no INVITE
    make_campaign(db, prompts, "crash-opt2", [opt, plain], **settings)
    with Simulator(plan_for([opt, plain], hold_ms=500), lab.ports.callees,
                   tmp_path / "b") as sim:
        run_to_end(db, lab.node_info(), "crash-opt2", key=lab_key())
        invited = {n for _ms, n in sim.invites()}
    assert invited == {plain.lstrip("+")}
    assert (opt, "skipped", "suppressed") in attempts(db, "crash-opt2")


def test_kill_9_restarted_while_the_dialplan_plays_alone_an_optout_then_is_kept(
        lab, db, prompts, tmp_path, home):
    """Severity 1 (issue 14): serve is killed mid-message; no controller answers within
    SC_RESUME_MS, so the dialplan plays the rest alone; a controller then starts and adopts
    the call (its channel is up) while the dialplan still plays it; the callee presses the
    opt-out digit after that. The call ends on AMI events, and the adopting controller reads
    the opt-out from Asterisk's log when it settles the call: suppressed, recorded, never
    dialed again."""
    from sc_asterisk.audio import import_audio
    from sc_asterisk.contacts import SuppressionStore
    from sc_asterisk.db import CallAttempt, CallRecord
    from sc_asterisk.dialer.lifecycle import set_status
    from sc_asterisk.dialer.retries import DEFAULT_POLICY
    from sqlalchemy import select
    from harness import lab_key

    # intro 1000 + message 4000 + notice 3000 ms. Killed 1500 ms in; alone from ~4500 ms at
    # the same point; the controller restarts at 5000 ms; the digit comes at 9500 ms (notice).
    kill_after_ms, restart_at_ms, dtmf_at_ms = 1500, 5000, 9500
    opt = numbers(77, 1)[0]
    with db.session() as s:
        import_audio(s, prompts["intro"], "t-intro")
        import_audio(s, prompts["intro"], "t-confirm")
    make_campaign(db, prompts, "crash-opt3", [opt], max_channels=4, cps=10, ring_timeout_s=5,
                  compliance_profile="fr-cnil", optout_intro="t-intro",
                  optout_confirm="t-confirm", retry_policy=DEFAULT_POLICY.to_json())
    set_status(db, "crash-opt3", "running")
    plan = CalleePlan()
    plan.add(opt, "dtmf", ring_ms=50, hold_ms=20000, dtmf="9", dtmf_at_ms=dtmf_at_ms)
    log = open(tmp_path / "serve.log", "wb")
    key = opt.lstrip("+")
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        proc = serve_process(db.url, lab, log)

        def answered_ms():
            t = next((t for t in sim.truth() if t.number == key), None)
            return None if t is None or t.answer_ms is None else now_ms() - t.answer_ms
        wait_sync(lambda: (answered_ms() or 0) >= kill_after_ms, 60)
        kill_9(proc)
        wait_sync(lambda: answered_ms() >= restart_at_ms, 10)
        proc = serve_process(db.url, lab, log)
        wait_sync(lambda: all(t.end_ms for t in sim.truth()), 30)
        t = sim.truth()[0]
        assert t.ended_by == "caller", t          # the confirmation, then our BYE
        assert dtmf_at_ms + 900 <= t.hold_ms_measured <= dtmf_at_ms + 2500, t

        def suppressed():
            with db.session() as s:
                return SuppressionStore(s, lab_key()).is_suppressed(opt)
        wait_sync(lambda: suppressed() is not None, 30)
        wait_sync(lambda: campaign_status(db, "crash-opt3") == "completed", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert [n for _ms, n in sim.invites()] == [key]
    serve_log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "re-adopted from a dead controller" in serve_log      # adopted while it was up
    assert "resumed at segment" not in serve_log                  # the dialplan played it
    with db.session() as s:
        attempt = s.scalar(select(CallAttempt).where(CallAttempt.number == opt))
        record = s.get(CallRecord, attempt.id)
        assert attempt.state == "finished" and record.opted_out
        assert record.precision == "reconstructed"
        assert {g.role: g.stop_reason for g in record.segments}["notice"] == "dtmf"
