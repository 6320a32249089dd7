"""Recording the end of an attempt and queueing its retry, in one transaction."""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..callflow.amd import parse_amd
from ..db import CallAttempt, CallRecord, Campaign
from .calls import Flight, now_ms
from .outcomes import FAILED, MACHINE, outcome_for
from .retries import RetryPolicy


def finish_attempt(s: Session, flight: Flight, state: str) -> str:
    """Write what happened; returns the outcome. *state*: originating (it was dialed), failed
    (Asterisk refused the Originate), unknown (the Originate's fate is unknown) or not_sent."""
    attempt = s.get(CallAttempt, flight.attempt_id)
    record = s.get(CallRecord, flight.attempt_id)
    if state == "not_sent":
        # Proven never dialed (the node's link was down before sending): back in the queue,
        # as if it had never been claimed; another node may take it.
        attempt.state, attempt.node, attempt.controller = "queued", None, None
        s.delete(record)
        return state
    if state == "originating":
        outcome = outcome_for(flight.answered, flight.cause, flight.reason)
        if flight.lost and not flight.answered:
            outcome = FAILED
        if record.amd_result == "MACHINE" and _amd_hangs_up(s, attempt):
            outcome = MACHINE      # hung up on a machine: counts for the retry rules
        attempt.state = "finished"
    else:
        outcome, attempt.state = state, state
    record.outcome = outcome
    record.answer_ms = flight.answer_ms
    record.end_ms = flight.end_ms or now_ms()
    record.hangup_cause, record.hangup_cause_txt = flight.cause, flight.cause_txt
    if flight.lost and flight.answered and record.hung_up_by is None:
        record.hung_up_by = "network"
    if not flight.answered:
        record.hung_up_by = None
    schedule_retry(s, attempt, outcome)
    return outcome


def schedule_retry(s: Session, attempt: CallAttempt, outcome: str) -> CallAttempt | None:
    """Queue the next attempt when the campaign's retry rules allow one (the per-number cap,
    the window and suppression are checked again when it is claimed)."""
    campaign = s.get(Campaign, attempt.campaign_id)
    if campaign.status not in ("running", "paused"):
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
