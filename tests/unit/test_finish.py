"""Recording an attempt's end goes through the state machine: only the controller holding the
attempt records it, once."""
from sc_asterisk.db import CallAttempt, CallRecord, Campaign
from sc_asterisk.dialer.calls import Flight
from sc_asterisk.dialer.claim import Claim
from sc_asterisk.dialer.finish import finish_attempt
from sc_asterisk.dialer.states import AttemptState, OriginateResult


def _dialed(db, controller="c1"):
    with db.session() as s:
        campaign = Campaign(name="fin", status="running")
        s.add(campaign)
        s.flush()
        attempt = CallAttempt(campaign_id=campaign.id, number="+33199000000",
                              state=AttemptState.ORIGINATING, controller=controller, node="n1")
        s.add(attempt)
        s.flush()
        s.add(CallRecord(attempt_id=attempt.id, originate_ms=1))
        return Flight(Claim(attempt.id, "+33199000000", "n1", "lab", None, 30, 0))


def test_the_holder_records_the_end(db):
    flight = _dialed(db)
    flight.cause, flight.end_ms, flight.end_seen = 17, 5, True     # its Hangup was seen
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "c1") == "busy"
    with db.session() as s:
        assert s.get(CallAttempt, flight.attempt_id).state == AttemptState.FINISHED
        assert s.get(CallRecord, flight.attempt_id).outcome == "busy"
        assert s.query(CallAttempt).count() == 2           # busy: a retry is queued


def test_an_attempt_another_controller_holds_is_not_recorded(db):
    flight = _dialed(db, controller="c2")
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "c1") is None
    with db.session() as s:
        assert s.get(CallAttempt, flight.attempt_id).state == AttemptState.ORIGINATING
        assert s.get(CallRecord, flight.attempt_id).outcome is None
        assert s.query(CallAttempt).count() == 1           # and no retry


def test_a_call_never_sent_goes_back_to_the_queue(db):
    flight = _dialed(db)
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.NOT_SENT, "c1") == "not_sent"
    with db.session() as s:
        attempt = s.get(CallAttempt, flight.attempt_id)
        assert (attempt.state, attempt.controller, attempt.node) == (AttemptState.QUEUED, None, None)
        assert s.get(CallRecord, flight.attempt_id) is None
