"""A dead controller's calls settled from Asterisk's log (issue 14): answered or not, when,
why it ended and what was heard, never ``unknown`` when Asterisk has a trace, never redialed;
what a resumed call flow measured is kept."""
from sqlalchemy import func, select

from sc_asterisk.cel import CallFacts, SegmentMark
from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, SegmentListen
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.dialer.reconcile import take_orphans
from sc_asterisk.dialer.states import AttemptState

NOW = 1_800_000_000_000


def _campaign(s):
    for name, ms in (("m", 4000), ("n", 3000)):
        s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=ms, source_filename="x",
                         data=b""))
    s.flush()
    return create_campaign(s, "rebuilt", message="m", notice="n", windows="always",
                           status="running", compliance_profile="basic")


def _attempt(s, campaign, state, number):
    attempt = CallAttempt(campaign_id=campaign.id, number=number, state=state,
                          controller="dead", node="n1", trunk="lab")
    s.add(attempt)
    s.flush()
    s.add(CallRecord(attempt_id=attempt.id, originate_ms=NOW - 60_000))
    return attempt.id


def test_calls_the_node_no_longer_lists_are_filled_from_its_log(db):
    with db.session() as s:
        campaign = _campaign(s)
        heard = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000001")
        busy = _attempt(s, campaign, AttemptState.RINGING, "+33199000002")
        resumed = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000003")
        silent = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000004")
        s.add(SegmentListen(attempt_id=resumed, position=0, role="message", length_ms=4000,
                            listened_ms=4000, heard_full=True, stop_reason="end"))
    t = NOW - 50_000
    log = {
        heard: CallFacts(heard, answer_ms=t, end_ms=t + 5510, cause=16, ended_by_us=False,
                         marks=[SegmentMark(t + 10, 0, t + 10),
                                SegmentMark(t + 4011, 1, t + 4011)]),
        busy: CallFacts(busy, end_ms=t + 3000, cause=17, ended_by_us=False),
        resumed: CallFacts(resumed, answer_ms=t, end_ms=t + 9000, cause=16, ended_by_us=True),
    }
    with db.session() as s:
        assert take_orphans(s, "c2", NOW - 10_000, {"n1": {}}, NOW,
                            lambda node, uid: log.get(uid)) == []
    with db.session() as s:
        def row(uid):
            a, r = s.get(CallAttempt, uid), s.get(CallRecord, uid)
            segs = [(g.role, g.listened_ms, g.heard_full) for g in r.segments]
            return a.state, r.outcome, r.answer_ms, r.end_ms, r.hangup_cause, r.precision, segs
        assert row(heard) == ("finished", "answered", t, t + 5510, 16, "reconstructed",
                              [("message", 4000, True), ("notice", 1499, False)])
        assert row(busy) == ("finished", "busy", None, t + 3000, 17, None, [])
        # measured by the session that resumed it: kept, only the times come from the log
        assert row(resumed)[:5] == ("finished", "answered", t, t + 9000, 16)
        assert row(resumed)[6] == [("message", 4000, True)]
        # Asterisk has no trace of it: unknown, as before
        assert row(silent)[:2] == ("unknown", "unknown")
        assert s.scalar(select(func.count()).select_from(CallAttempt)) == 4   # nobody redialed


def _flight(uid, answer_ms, end_ms):
    from sc_asterisk.dialer.calls import Flight
    from sc_asterisk.dialer.claim import Claim
    flight = Flight(Claim(uid, "", "n1", "", None, 0, 0), answered=True, answer_ms=answer_ms)
    flight.end_ms, flight.cause, flight.end_seen = end_ms, 16, True
    flight.hung_up.set()
    return flight


def test_an_adopted_call_the_dialplan_finished_alone_is_completed_from_the_log(db):
    """Adopted while the dialplan played it alone (its controller dead, none back in time):
    it ends on AMI events, and what it heard comes from the log, not from a call flow."""
    from sc_asterisk.dialer.finish import finish_attempt
    from sc_asterisk.dialer.states import OriginateResult
    t = NOW - 50_000
    with db.session() as s:
        campaign = _campaign(s)
        uid = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000001")
        s.get(CallAttempt, uid).controller = "c2"          # adopted (take_over)
    facts = CallFacts(uid, answer_ms=t, end_ms=None, marks=[
        SegmentMark(t + 10, 0, t + 10), SegmentMark(t + 5000, 0, t + 3000),
        SegmentMark(t + 7000, 1, t + 7000)], lost_ms=[t + 2010], alone_ms=t + 5000)
    with db.session() as s:
        # no CEL HANGUP line yet: the end seen on AMI closes the last segment
        assert finish_attempt(s, _flight(uid, t, t + 8500), OriginateResult.SENT, "c2",
                              lambda node, u: facts if u == uid else None) == "answered"
    with db.session() as s:
        r = s.get(CallRecord, uid)
        assert (r.precision, r.end_ms) == ("reconstructed", t + 8500)
        assert [(g.listened_ms, g.heard_full) for g in r.segments] == [(4000, True),
                                                                     (1500, False)]


def test_a_play_measured_until_its_session_was_lost_gives_way_to_the_log(db):
    """The session measured up to its loss, then the dialplan played on alone: the measured
    part is incomplete, the log covers the whole call."""
    from sc_asterisk.dialer.finish import finish_attempt
    from sc_asterisk.dialer.states import OriginateResult
    t = NOW - 50_000
    with db.session() as s:
        campaign = _campaign(s)
        uid = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000001")
        s.get(CallAttempt, uid).controller = "c2"
        s.add(SegmentListen(attempt_id=uid, position=0, role="message", length_ms=4000,
                            listened_ms=2000, heard_full=False, stop_reason="hangup"))
    facts = CallFacts(uid, answer_ms=t, end_ms=t + 10_000, cause=16, ended_by_us=True,
                      marks=[SegmentMark(t + 10, 0, t + 10), SegmentMark(t + 5000, 0, t + 3000),
                             SegmentMark(t + 7000, 1, t + 7000)],
                      lost_ms=[t + 2010], alone_ms=t + 5000, alone_end_ms=t + 10_000)
    with db.session() as s:
        finish_attempt(s, _flight(uid, t, t + 10_010), OriginateResult.SENT, "c2",
                       lambda node, u: facts)
    with db.session() as s:
        r = s.get(CallRecord, uid)
        assert r.precision == "reconstructed" and r.hung_up_by == "system"
        assert [(g.listened_ms, g.heard_full) for g in r.segments] == [(4000, True),
                                                                     (3000, True)]


def test_a_call_one_of_our_sessions_played_whole_is_not_looked_up_in_the_log(db):
    """The log is a file read on the database thread: a call whose call flow this controller
    ran from start to end (``flow_whole``) has nothing to learn from it, and is not looked up;
    every other answered call is."""
    from sc_asterisk.dialer.finish import finish_attempt
    from sc_asterisk.dialer.states import OriginateResult
    t = NOW - 50_000
    asked = []

    def facts(node, uid):
        asked.append(uid)
        return None
    with db.session() as s:
        campaign = _campaign(s)
        whole = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000001")
        lost = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000002")
        for uid in (whole, lost):
            s.get(CallAttempt, uid).controller = "c2"
    with db.session() as s:
        flight = _flight(whole, t, t + 8000)
        flight.flow_whole = True
        assert finish_attempt(s, flight, OriginateResult.SENT, "c2", facts) == "answered"
        assert finish_attempt(s, _flight(lost, t, t + 8000), OriginateResult.SENT, "c2",
                              facts) == "answered"
    assert asked == [lost]


def test_a_call_of_this_controller_no_longer_followed_is_settled_from_the_log(db):
    """sweep: this controller's own call whose end it could not write, channel gone: the log
    settles it (not ``unknown``)."""
    from sc_asterisk.dialer.reconcile import sweep
    t = NOW - 50_000
    with db.session() as s:
        campaign = _campaign(s)
        uid = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000001")
        lost = _attempt(s, campaign, AttemptState.ANSWERED, "+33199000002")
        for a in (uid, lost):
            s.get(CallAttempt, a).controller = "me"
    facts = CallFacts(uid, answer_ms=t, end_ms=t + 3000, cause=16, ended_by_us=False,
                      marks=[SegmentMark(t + 10, 0, t + 10)])
    with db.session() as s:
        assert sweep(s, "me", {"n1": {}}, set(), NOW, lambda node, u: facts if u == uid
                     else None) == []
    with db.session() as s:
        assert (s.get(CallAttempt, uid).state, s.get(CallRecord, uid).outcome) == (
            "finished", "answered")
        assert [g.listened_ms for g in s.get(CallRecord, uid).segments] == [2990, 0]
        assert s.get(CallAttempt, lost).state == "unknown"
