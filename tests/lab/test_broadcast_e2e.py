"""Issue 2's proof: real calls through the lab Asterisk to SIPp callees hanging up at known
times; what we measured per segment is compared with SIPp's ground truth."""
from collections import Counter

import pytest
from sqlalchemy import select

from harness import run_to_end
from sc_asterisk.audio import import_audio
from sc_asterisk.db import CallAttempt, Contact
from sc_asterisk.dialer.campaigns import (create_campaign, get_campaign, queue_contacts,
                                          status_counts)
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.lab.sipp import CalleePlan, Simulator

MSG_MS, NOTICE_MS = 4000, 3000
TOLERANCE_MS = 60

# number suffix -> (behaviour, hold ms after answer)
CALLEES = {
    "01": ("answer", 800), "02": ("answer", 1700), "03": ("answer", 2600),
    "04": ("answer", 3300), "05": ("answer", 4600), "06": ("answer", 5200),
    "07": ("answer", 6100), "08": ("answer", 6700), "09": ("answer", 9000),
    "10": ("answer", 9500), "11": ("answer", 1200), "12": ("answer", 5900),
    "20": ("busy", 0), "21": ("noanswer", 0), "22": ("reject", 0),
}


def outcome_counts(db, name):
    with db.session() as s:
        return dict(status_counts(s, get_campaign(s, name))["outcomes"])


def number(suffix):
    return f"+331990001{suffix}"


def setup_campaign(db, prompts, name="e2e"):
    with db.session() as s:
        import_audio(s, prompts["message"], "t-message")
        import_audio(s, prompts["notice"], "t-notice")
        campaign = create_campaign(s, name, message="t-message", notice="t-notice",
                                   max_channels=15, cps=10, ring_timeout_s=5,
                                   windows="always", retry_policy=NO_RETRY,
                                   compliance_profile="basic")
        ids = []
        for suffix in CALLEES:
            contact = Contact(e164=number(suffix), list_name="e2e")
            s.add(contact)
            s.flush()
            ids.append(contact.id)
        queue_contacts(s, campaign, ids)


def expected(hold):
    """What a callee hanging up *hold* ms after answering heard of each segment."""
    return min(hold, MSG_MS), max(0, min(hold - MSG_MS, NOTICE_MS))


def test_listened_ms_matches_sipp_ground_truth(lab, db, prompts, tmp_path):
    setup_campaign(db, prompts)
    plan = CalleePlan()
    for suffix, (behaviour, hold) in CALLEES.items():
        plan.add(number(suffix), behaviour, ring_ms=300, hold_ms=hold)

    with Simulator(plan, port=lab.ports.callees, workdir=tmp_path / "sipp") as sim:
        run_to_end(db, lab.node_info(), "e2e")
        outcomes = outcome_counts(db, "e2e")
        truth = {t.number.lstrip("+"): t for t in sim.truth()}
        invites = Counter(n.lstrip("+") for _ms, n in sim.invites())

    assert outcomes == {"answered": 12, "busy": 1, "no_answer": 1, "unavailable": 1}
    # nobody dialed twice
    assert set(invites.values()) == {1} and len(invites) == len(CALLEES)

    with db.session() as s:
        campaign = get_campaign(s, "e2e")
        assert campaign.status == "completed"
        attempts = s.scalars(select(CallAttempt)).all()
        assert {a.state for a in attempts} == {"finished"}
        checked = 0
        for a in attempts:
            suffix = a.number[-2:]
            behaviour, _hold = CALLEES[suffix]
            record = a.record
            segs = {sl.role: sl for sl in record.segments}
            if behaviour != "answer":
                assert record.answer_ms is None and not any(sl.listened_ms for sl in segs.values())
                continue
            t = truth[a.number.lstrip("+")]
            assert t.outcome == "answered"
            hold = t.end_ms - t.answer_ms     # measured by SIPp, the ground truth
            exp_msg, exp_notice = expected(hold)
            assert abs(segs["message"].listened_ms - exp_msg) <= TOLERANCE_MS, (suffix, hold)
            assert abs(segs["notice"].listened_ms - exp_notice) <= TOLERANCE_MS, (suffix, hold)
            if hold < MSG_MS - TOLERANCE_MS:
                # never reached: exactly zero, and the message stopped because of the hangup
                assert segs["notice"].listened_ms == 0
                assert segs["notice"].stop_reason == "not_reached"
                assert segs["message"].stop_reason == "hangup" and record.hung_up_by == "callee"
            if hold > MSG_MS + NOTICE_MS + 500:
                assert segs["message"].heard_full and segs["notice"].heard_full
                assert record.hung_up_by == "system" and t.ended_by == "caller"
            assert record.originate_ms <= record.answer_ms <= record.end_ms
            checked += 1
    assert checked == 12

    # the analyst's report of this very campaign: export, figures, retention curve
    from sc_asterisk.reports import demo_report
    out = demo_report(db, "e2e", tmp_path / "report", key="test-key")
    figures = out["figures"]
    assert open(out["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert sum(1 for _line in open(out["csv"])) == len(CALLEES) + 1    # header + one per attempt
    # the report's figures agree with what the callees did (SIPp), not only with our records
    holds = [t.end_ms - t.answer_ms for t in truth.values() if t.outcome == "answered"]
    assert figures["answered"] == len(holds) == 12
    assert figures["listen"]["heard_full_message"] == sum(h >= MSG_MS for h in holds) == 7
    assert figures["notice_heard_full"] == sum(h >= MSG_MS + NOTICE_MS for h in holds) == 2
    assert figures["outcomes"] == {"answered": 12, "busy": 1, "no_answer": 1, "unavailable": 1}


def test_failed_calls_have_outcome_and_no_listen_time(lab, db, prompts, tmp_path):
    # Covered above as well; this one runs them alone with a different ring delay, so a
    # regression in outcome mapping shows up by name.
    with db.session() as s:
        import_audio(s, prompts["message"], "t-message")
        import_audio(s, prompts["notice"], "t-notice")
        campaign = create_campaign(s, "fail", message="t-message", notice="t-notice",
                                   max_channels=5, cps=10, ring_timeout_s=5,
                                   windows="always", retry_policy=NO_RETRY,
                                   compliance_profile="basic")
        ids = []
        for suffix in ("20", "21", "22"):
            c = Contact(e164=number(suffix))
            s.add(c)
            s.flush()
            ids.append(c.id)
        queue_contacts(s, campaign, ids)
    plan = CalleePlan()
    for suffix in ("20", "21", "22"):
        plan.add(number(suffix), CALLEES[suffix][0], ring_ms=1000)

    with Simulator(plan, port=lab.ports.callees, workdir=tmp_path / "sipp") as sim:
        run_to_end(db, lab.node_info(), "fail")
        outcomes = outcome_counts(db, "fail")
        truth = {t.number.lstrip("+"): t.outcome for t in sim.truth()}
    assert outcomes == {"busy": 1, "no_answer": 1, "unavailable": 1}
    assert truth == {number("20").lstrip("+"): "busy", number("21").lstrip("+"): "noanswer",
                     number("22").lstrip("+"): "rejected"}
    with db.session() as s:
        causes = {}
        for a in s.scalars(select(CallAttempt)):
            assert a.record.answer_ms is None and a.record.hung_up_by is None
            assert a.record.segments == []
            causes[a.record.outcome] = a.record.hangup_cause
    # Q.850 causes as Asterisk reports them: 486 -> 17, ring timeout -> 19, 503 -> 34
    assert causes == {"busy": 17, "no_answer": 19, "unavailable": 34}
