"""Call flow and privacy through the real lab: DTMF opt-out, stray digits, suppression and
erasure before every dial (retries included), and garbage FastAGI peers during live calls."""
import asyncio
import socket
from collections import Counter

from sqlalchemy import select

from campaigns import attempts, make_campaign, numbers, plan_for, wait_until
from harness import lab_key, run_to_end, serving
from sc_asterisk.contacts import SuppressionStore, erase_subject
from sc_asterisk.db import CallAttempt, Contact
from sc_asterisk.db.models_privacy import SuppressionEntry
from sc_asterisk.dialer.campaigns import get_campaign, queue_contacts
from sc_asterisk.dialer.retries import RetryPolicy, RetryRule
from sc_asterisk.lab.sipp import CalleePlan, Simulator
from sc_asterisk.service import Controller


MSG_MS, NOTICE_MS = 4000, 3000


def segments(db, name):
    """number -> {role: SegmentListen}, plus the record."""
    out = {}
    with db.session() as s:
        cid = get_campaign(s, name).id
        for a in s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == cid)):
            out[a.number.lstrip("+")] = ({sl.role: sl for sl in a.record.segments}, a.record)
    return out


def test_optout_digit_suppresses_before_the_call_ends_and_is_never_dialed_again(
        lab, db, prompts, tmp_path):
    opt, stray, plain = numbers(40, 3)
    make_campaign(db, prompts, "optout", [opt, stray, plain], max_channels=5, cps=10,
                  ring_timeout_s=5)
    plan = CalleePlan()
    plan.add(opt, "dtmf", ring_ms=100, hold_ms=9000, dtmf="9", dtmf_at_ms=1500)
    plan.add(stray, "dtmf", ring_ms=100, hold_ms=9000, dtmf="5", dtmf_at_ms=1500)
    plan.add(plain, "answer", ring_ms=100, hold_ms=9000)
    with Simulator(plan, lab.ports.callees, tmp_path / "a") as sim:
        run_to_end(db, lab.node_info(), "optout", key=lab_key())
        truth = {t.number: t for t in sim.truth()}
    segs = segments(db, "optout")
    o_segs, o_record = segs[opt.lstrip("+")]
    assert o_record.opted_out and o_segs["message"].stop_reason == "dtmf"
    assert 1300 <= o_segs["message"].listened_ms <= 1800    # the digit came 1.5 s in
    assert o_segs["notice"].listened_ms == 0
    t = truth[opt.lstrip("+")]
    assert t.ended_by == "caller"                            # we hung up, after the confirmation
    with db.session() as s:
        entry = s.scalar(select(SuppressionEntry).where(
            SuppressionEntry.number_hash == SuppressionStore(s, lab_key()).pseudonym(opt)))
        assert entry is not None and entry.reason == "opt-out"
        # stored before the call ended: before the BYE reached the callee
        assert entry.created_at.timestamp() * 1000 < t.end_ms
    s_segs, s_record = segs[stray.lstrip("+")]
    assert not s_record.opted_out and s_segs["message"].heard_full and s_segs["notice"].heard_full

    # a later campaign with the same audience: the opted-out number gets no INVITE
    make_campaign(db, prompts, "again", [opt, stray, plain], max_channels=5, cps=10,
                  ring_timeout_s=5)
    with Simulator(plan_for([opt, stray, plain], hold_ms=500), lab.ports.callees,
                   tmp_path / "b") as sim:
        run_to_end(db, lab.node_info(), "again", key=lab_key())
        invited = {n for _ms, n in sim.invites()}
    assert invited == {stray.lstrip("+"), plain.lstrip("+")}
    assert ("+" + opt.lstrip("+"), "skipped", "suppressed") in attempts(db, "again")


def test_suppressed_and_erased_numbers_get_no_invite_even_on_retries(lab, db, prompts, tmp_path):
    nums = numbers(41, 8)
    suppressed, erased, busy_then_suppressed, *callable_ = nums
    retry = RetryPolicy({"busy": RetryRule(3, 0)}).to_json()       # retry busy at once
    make_campaign(db, prompts, "privacy", nums, max_channels=4, cps=10, ring_timeout_s=5,
                  retry_policy=retry)
    with db.session() as s:
        SuppressionStore(s, lab_key()).add(suppressed, "objection", "test")
        erase_subject(s, lab_key(), erased)
    plan = plan_for(callable_, hold_ms=300)
    plan.add(suppressed, "answer", hold_ms=300)
    plan.add(erased, "answer", hold_ms=300)
    plan.add(busy_then_suppressed, "busy", ring_ms=100)

    async def go(sim):
        async with serving(db, lab.node_info(), "privacy", key=lab_key()) as run:
            # after its first busy, the person objects: the retry must not ring them
            await wait_until(lambda: busy_then_suppressed.lstrip("+") in
                             {n for _ms, n in sim.invites()}, 10)
            await asyncio.to_thread(_suppress, db, busy_then_suppressed)
            await run.until_completed(30)

    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        asyncio.run(go(sim))
        invited = Counter(n for _ms, n in sim.invites())
    assert suppressed.lstrip("+") not in invited and erased.lstrip("+") not in invited
    assert invited[busy_then_suppressed.lstrip("+")] == 1
    assert all(invited[n.lstrip("+")] == 1 for n in callable_)
    rows = attempts(db, "privacy")
    skipped = Counter(o for _n, st, o in rows if st == "skipped")
    assert skipped == {"suppressed": 2}   # the objector, and the busy number's retry
    # erasure cancelled the erased person's queued attempt (its number is now a pseudonym)
    assert [st for n, st, _o in rows if not n.startswith("+")] == ["cancelled"]


def _suppress(db, number):
    with db.session() as s:
        SuppressionStore(s, lab_key()).add(number, "objection", "test")


def test_garbage_fastagi_peers_do_not_disturb_live_measurements(lab, db, prompts, tmp_path):
    nums = numbers(42, 10)
    holds = [1200 + 600 * i for i in range(10)]          # across message and notice
    make_campaign(db, prompts, "garbage", nums, max_channels=10, cps=20, ring_timeout_s=5)
    plan = CalleePlan()
    for n, h in zip(nums, holds):
        plan.add(n, "answer", ring_ms=100, hold_ms=h)
    agi_port = lab.node_info().agi_port

    async def go(sim):
        async with serving(db, lab.node_info(), "garbage", key=lab_key()) as run:
            await wait_until(lambda: len(sim.invites()) >= 3, 10)
            peers = []
            for payload in (b"GET / HTTP/1.0\r\n\r\n", b"agi_network: yes\nagi_req", b"",
                            b"\x00\xff" * 500, b"agi_network_script: broadcast\n\n"):
                conn = socket.create_connection(("127.0.0.1", agi_port))
                conn.sendall(payload)
                peers.append(conn)        # left open: half-open and silent peers
            await run.until_completed(30)
            await run.stop_dialing()
            for conn in peers:
                conn.close()

    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        asyncio.run(go(sim))
        truth = {t.number: t for t in sim.truth()}
    segs = segments(db, "garbage")
    assert len(segs) == 10
    for number, (by_role, record) in segs.items():
        hold = truth[number].end_ms - truth[number].answer_ms
        assert abs(by_role["message"].listened_ms - min(hold, MSG_MS)) <= 60
        assert abs(by_role["notice"].listened_ms - max(0, min(hold - MSG_MS, NOTICE_MS))) <= 60


def test_callback_line_plays_message_and_notice_and_records_an_inbound_call(
        lab, db, prompts, tmp_path):
    from sc_asterisk.lab.callers import InboundCall, place_calls
    did = "+33199009999"
    full, early = numbers(43, 2)
    make_campaign(db, prompts, "callback", [], caller_id=did, max_channels=2, cps=1)

    async def go():
        # this installation's key: the lab's SC_AGI carries its FastAGI token
        async with Controller(db, lab.node_info()):
            return await asyncio.to_thread(
                place_calls, [InboundCall(did, hangup_after_ms=9500, caller_id=full),
                              InboundCall(did, hangup_after_ms=2500, caller_id=early)],
                "127.0.0.1", lab.ports.sip, lab.callers_port, tmp_path, timeout=30)

    calls = asyncio.run(go())
    assert [c.outcome for c in calls] == ["answered", "answered"], calls
    assert calls[0].ended_by == "callee"          # we hung up after message + notice
    assert calls[1].ended_by == "caller", calls
    with db.session() as s:
        cid = get_campaign(s, "callback").id
        inbound = {a.number: a for a in s.scalars(select(CallAttempt)
                                                 .where(CallAttempt.campaign_id == cid))}
        assert set(inbound) == {full, early}
        for number, a in inbound.items():
            assert a.record.direction == "inbound" and a.record.outcome == "answered"
            assert a.state == "finished" and a.record.end_ms >= a.record.answer_ms
        f = {sl.role: sl for sl in inbound[full].record.segments}
        assert f["message"].heard_full and f["notice"].heard_full
        e = {sl.role: sl for sl in inbound[early].record.segments}
        # the caller hung up 2.5 s after the answer: the message was cut there (±60 ms)
        assert abs(e["message"].listened_ms - 2500) <= 60 and e["notice"].listened_ms == 0


def test_answering_machine_detection_outcomes(lab, db, prompts, tmp_path):
    machine, human = numbers(44, 2)
    make_campaign(db, prompts, "amd", [machine, human], max_channels=2, cps=5,
                  ring_timeout_s=5, amd_policy="hangup")
    plan = CalleePlan()
    plan.add(machine, "machine", ring_ms=100, hold_ms=12000)
    plan.add(human, "human", ring_ms=100, hold_ms=12000)
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        run_to_end(db, lab.node_info(), "amd", key=lab_key())
        truth = {t.number: t for t in sim.truth()}
    segs = segments(db, "amd")
    m_segs, m_record = segs[machine.lstrip("+")]
    h_segs, h_record = segs[human.lstrip("+")]
    assert m_record.amd_result == "MACHINE" and m_record.outcome == "machine"
    assert m_segs == {} and m_record.hung_up_by == "system"     # nothing played to the machine
    assert h_record.amd_result == "HUMAN" and h_record.outcome == "answered"
    # detection time is not listening: the human heard the script from its start, fully
    assert h_segs["message"].heard_full and h_segs["message"].listened_ms == MSG_MS
    assert h_segs["notice"].listened_ms == NOTICE_MS
    t = truth[human.lstrip("+")]
    assert t.end_ms - t.answer_ms > MSG_MS + NOTICE_MS          # the call lasted longer: AMD ran
