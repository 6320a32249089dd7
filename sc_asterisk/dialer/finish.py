"""Recording the end of an attempt and queueing its retry, in one transaction."""
from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy.orm import Session

from ..callflow.amd import parse_amd
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
    if not transition(s, flight.attempt_id, to, controller=controller, values=values):
        log.warning("attempt %s is no longer held by this controller: its end is not recorded",
                    flight.attempt_id)
        return None
    attempt = s.get(CallAttempt, flight.attempt_id)
    record = s.get(CallRecord, flight.attempt_id)
    if sent is OriginateResult.NOT_SENT:
        s.delete(record)
        return sent
    # Answered if anyone saw it: a call adopted from a frozen controller may have been
    # answered before its new controller followed it (the old one recorded that answer).
    answered = flight.answered or (record is not None and record.answer_ms is not None)
    if sent is OriginateResult.SENT:
        outcome = outcome_for(answered, flight.cause, flight.reason)
        if record.amd_result == "MACHINE" and _amd_hangs_up(s, attempt):
            outcome = MACHINE      # hung up on a machine: counts for the retry rules
    else:
        outcome = str(to)          # failed / unknown: the outcome says the same as the state
    record.outcome = outcome
    if flight.answer_ms is not None:
        record.answer_ms = flight.answer_ms
    record.end_ms = flight.end_ms or now_ms()
    record.hangup_cause, record.hangup_cause_txt = flight.cause, flight.cause_txt
    if flight.lost and answered and record.hung_up_by is None:
        record.hung_up_by = "network"
    if not answered:
        record.hung_up_by = None
    # Only for a call no session of ours played whole: the log is a file read on this thread.
    logged = facts(flight.claim.node, flight.attempt_id) \
        if facts and answered and not flight.flow_whole else None
    if logged is not None and logged.flow_lost:
        add_heard(s, attempt, replace(logged, answer_ms=logged.answer_ms or record.answer_ms,
                                      end_ms=logged.end_ms or record.end_ms))
    schedule_retry(s, attempt, outcome)
    return outcome


def schedule_retry(s: Session, attempt: CallAttempt, outcome: str) -> CallAttempt | None:
    """Queue the next attempt when the campaign's retry rules allow one (the per-number cap,
    the window and suppression are checked again when it is claimed)."""
    campaign = s.get(Campaign, attempt.campaign_id)
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        return None
    delay = RetryPolicy.from_json(campaign.retry_policy).next_delay_s(outcome, attempt.attempt_no)
    if delay is None:
        return None
    retry = CallAttempt(campaign_id=attempt.campaign_id, contact_id=attempt.contact_id,
                        number=attempt.number, attempt_no=attempt.attempt_no + 1,
                        not_before_ms=now_ms() + int(delay * 1000), trunk=attempt.trunk)
    s.add(retry)
    return retry


def _amd_hangs_up(s: Session, attempt: CallAttempt) -> bool:
    amd = parse_amd(s.get(Campaign, attempt.campaign_id).amd_policy)
    return amd is not None and amd.policy == "hangup"
