"""A call left in flight by a dead controller, settled from what Asterisk logged of it
(``cel.CallFacts``): answered or not, when, how it ended, and, when no call flow measured it,
what was heard of each segment rebuilt from the logged segment starts (precision
``reconstructed``), and whether the callee opted out while the dialplan played alone (the
suppression itself is stored by the caller through the opt-out journal, callflow/optouts.py).
Never redialed: a retry needs a controller that saw the call."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..callflow.reconstruct import reconstruct
from ..callflow.roles import PLAYED_ROLES
from ..callflow.store import RECONSTRUCTED, record_play
from ..cel import CallFacts
from ..db import CallAttempt, CallRecord, CampaignSegment, SegmentListen
from .outcomes import outcome_for
from .states import AttemptState, transition

log = logging.getLogger(__name__)


def settle_from_facts(s: Session, attempt: CallAttempt, record: CallRecord | None,
                      facts: CallFacts) -> bool:
    """Finish *attempt* from Asterisk's facts once they show its end; False (nothing
    written) when they do not, or another controller settled it first.

    Example: ``settle_from_facts(s, attempt, s.get(CallRecord, attempt.id), cel.facts(attempt.id))``
    """
    if facts.end_ms is None or record is None:
        return False
    answered = facts.answer_ms is not None
    if not transition(s, attempt.id, AttemptState.FINISHED,
                      values={"channel_gone_ms": facts.end_ms}):
        return False
    record.outcome = outcome_for(answered, facts.cause, None)
    record.answer_ms = facts.answer_ms if answered else None
    record.end_ms = facts.end_ms
    record.hangup_cause, record.hangup_cause_txt = facts.cause, None
    measured = s.scalar(select(SegmentListen.id).where(SegmentListen.attempt_id == attempt.id)
                        .limit(1)) is not None
    if answered and not measured:
        s.flush()
        record_play(s, attempt.id, reconstruct(facts, _script(s, attempt.campaign_id)),
                    RECONSTRUCTED)
    elif not answered:
        record.hung_up_by = None
    if facts.optout_ms is not None:
        record.opted_out = True
    log.warning("attempt %s: its controller died; settled from Asterisk's log (%s)",
                attempt.id, record.outcome)
    return True


def _script(s: Session, campaign_id: int) -> list[tuple[str, int]]:
    """(role, length ms) of the campaign's played segments in order, as the call flow plays
    them (callflow/store.campaign_script)."""
    rows = s.scalars(select(CampaignSegment).where(CampaignSegment.campaign_id == campaign_id)
                     .order_by(CampaignSegment.position))
    return [(seg.role, seg.asset.duration_ms) for seg in rows if seg.role in PLAYED_ROLES]
