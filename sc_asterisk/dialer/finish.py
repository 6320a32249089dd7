"""Recording the end of an attempt and queueing its retry, in one transaction."""
from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session

from ..callflow.amd import parse_amd
from ..callflow.store import MEASURED, record_play
from ..cel import FactsOf
from ..db import CallAttempt, CallRecord, Campaign
from .calls import Flight, now_ms
from .outcomes import MACHINE, outcome_for
from .rebuild import add_heard
from .retries import RetryPolicy
from .states import AttemptState, CampaignStatus, OriginateResult, transition

log = logging.getLogger(__name__)

# The state an attempt ends in, by what its Originate came to.
AFTER_ORIGINATE = {
    OriginateResult.SENT: AttemptState.FINISHED,
    OriginateResult.REFUSED: AttemptState.FAILED,
    OriginateResult.UNKNOWN: AttemptState.UNKNOWN,
    OriginateResult.NOT_SENT: AttemptState.QUEUED,
}


def finish_attempt(s: Session, flight: Flight, sent: OriginateResult, controller: str,
                   facts: FactsOf | None = None) -> str | None:
    """Write what happened to an attempt *controller* holds; returns the outcome, or None when
    the attempt is no longer this controller's to finish (nothing is written then).
    *facts* (node, attempt id -> what the node logged, or None) completes an answered call
    whose call flow was lost on the way (an adopted call the dialplan played on alone): what
    was heard, and an opt-out pressed meanwhile (dialer/rebuild.py). A call one of our
    sessions played whole (``flight.flow_whole``) is not looked up.

    *sent*: what the Originate came to (SENT: it was dialed). NOT_SENT puts the attempt back
    in the queue, as if it had never been claimed: another node may take it.

    Example: ``finish_attempt(s, flight, OriginateResult.SENT, controller_id)``
    """
    if sent is OriginateResult.SENT and flight.fate_unknown:
        sent = OriginateResult.UNKNOWN    # it may have rung, its end unseen: never retried
    to = AFTER_ORIGINATE[sent]
    values = {"node": None, "controller": None} if sent is OriginateResult.NOT_SENT else {}
    if to is AttemptState.UNKNOWN and flight.hung_up.is_set():
        values["channel_gone_ms"] = flight.end_ms or now_ms()   # Asterisk said: slot free
    if flight.play is not None:
        # What the call flow measured, in the same transaction as the end. A fact of the
        # call, written even when another controller holds the attempt now.
        record_play(s, flight.attempt_id, flight.play, MEASURED)
    if not transition(s, flight.attempt_id, to, controller=controller, values=values):
        log.warning("attempt %s is no longer held by this controller: its end is not recorded",
                    flight.attempt_id)
        return None
    conn = s.connection()
    if sent is OriginateResult.NOT_SENT:
        conn.execute(_DROP_RECORD, {"f_id": flight.attempt_id})
        return sent
    row = conn.execute(_END_ROW, {"f_id": flight.attempt_id}).one()
    # Answered if anyone saw it: a call adopted from a frozen controller may have been
    # answered before its new controller followed it (the old one recorded that answer).
    answered = flight.answered or row.answer_ms is not None
    if sent is OriginateResult.SENT:
        outcome = outcome_for(answered, flight.cause, flight.reason)
        if row.amd_result == "MACHINE" and _amd_hangs_up(row.amd_policy):
            outcome = MACHINE      # hung up on a machine: counts for the retry rules
    else:
        outcome = str(to)          # failed / unknown: the outcome says the same as the state
    hung_up_by = row.hung_up_by
    if flight.lost and answered and hung_up_by is None:
        hung_up_by = "network"
    if not answered:
        hung_up_by = None
    end_ms = flight.end_ms or now_ms()
    conn.execute(_END_RECORD, {
        "f_id": flight.attempt_id, "outcome": outcome, "end_ms": end_ms,
        "answer_ms": flight.answer_ms if flight.answer_ms is not None else row.answer_ms,
        "hangup_cause": flight.cause, "hangup_cause_txt": flight.cause_txt,
        "hung_up_by": hung_up_by})
    # Only for a call no session of ours played whole: the log is a file read on this thread.
    logged = facts(flight.claim.node, flight.attempt_id) \
        if facts and answered and not flight.flow_whole else None
    if logged is not None and logged.flow_lost:
        add_heard(s, s.get(CallAttempt, flight.attempt_id),
                  replace(logged, answer_ms=logged.answer_ms or row.answer_ms,
                          end_ms=logged.end_ms or end_ms))
    schedule_retry(conn, row, outcome)
    return outcome


# The end of a call in Core statements built once (it runs at every call's end on the
# controller's one database thread): the attempt, its record and its campaign's rules in one
# read, the record in one write, the retry in one insert.
_AT, _RC, _CP = CallAttempt.__table__, CallRecord.__table__, Campaign.__table__
_END_ROW = (select(_AT.c.campaign_id, _AT.c.contact_id, _AT.c.number, _AT.c.attempt_no,
                   _AT.c.trunk, _RC.c.answer_ms, _RC.c.amd_result, _RC.c.hung_up_by,
                   _CP.c.status, _CP.c.retry_policy, _CP.c.amd_policy)
            .select_from(_AT.join(_CP, _CP.c.id == _AT.c.campaign_id)
                         .join(_RC, _RC.c.attempt_id == _AT.c.id))
            .where(_AT.c.id == bindparam("f_id")))
_END_RECORD = _RC.update().where(_RC.c.attempt_id == bindparam("f_id"))
_DROP_RECORD = _RC.delete().where(_RC.c.attempt_id == bindparam("f_id"))
_RETRY = _AT.insert()


def schedule_retry(conn: Connection, ended: Row, outcome: str) -> bool:
    """Queue the next attempt when the campaign's retry rules allow one (the per-number cap,
    the window and suppression are checked again when it is claimed). *ended*: the ended
    attempt's row (campaign_id, contact_id, number, attempt_no, trunk) with its campaign's
    status and retry_policy. Returns whether one was queued."""
    if ended.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        return False
    delay = RetryPolicy.from_json(ended.retry_policy).next_delay_s(outcome, ended.attempt_no)
    if delay is None:
        return False
    conn.execute(_RETRY, {"campaign_id": ended.campaign_id, "contact_id": ended.contact_id,
                          "number": ended.number, "attempt_no": ended.attempt_no + 1,
                          "not_before_ms": now_ms() + int(delay * 1000),
                          "trunk": ended.trunk})
    return True


def _amd_hangs_up(amd_policy: str | None) -> bool:
    amd = parse_amd(amd_policy)
    return amd is not None and amd.policy == "hangup"
