"""A call left in flight by a dead controller, settled from what Asterisk logged of it
(``cel.CallFacts``): answered or not, when, how it ended, and, when no call flow measured it,
what was heard of each segment rebuilt from the logged segment starts (precision
``reconstructed``), and whether the callee opted out while the dialplan played alone (the
suppression itself is stored by the caller through the opt-out journal, callflow/optouts.py).
Never redialed: a retry needs a controller that saw the call."""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..callflow.reconstruct import reconstruct
from ..callflow.roles import PLAYED_ROLES
from ..callflow.store import RECONSTRUCTED, record_play
from ..cel import CallFacts, FactsOf
from ..db import CallAttempt, CallRecord, CampaignSegment, SegmentListen
from .outcomes import outcome_for
from .states import AttemptState, transition

log = logging.getLogger(__name__)


def settle_from_facts(s: Session, attempt: CallAttempt, record: CallRecord | None,
                      facts: CallFacts) -> bool:
    """Finish *attempt*, which no controller follows any more, from Asterisk's facts once
    they show its end; False (nothing written) when they do not, or another controller
    settled it first.

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
    if not answered:
        record.hung_up_by = None
    add_heard(s, attempt, facts)
    log.warning("attempt %s: its controller died; settled from Asterisk's log (%s)",
                attempt.id, record.outcome)
    return True


def add_heard(s: Session, attempt: CallAttempt, facts: CallFacts) -> None:
    """What the callee heard, when the call flow did not measure it to the end (its session
    was lost and no controller took the call back: the dialplan played on alone), rebuilt from
    the log (precision ``reconstructed``); and the opt-out the dialplan logged. A play measured
    to the end (by a resumed session) is kept. Needs
    the call's end: *facts* without one get it from the caller (``dataclasses.replace``).

    Example: ``add_heard(s, attempt, replace(facts, end_ms=flight.end_ms))``
    """
    if facts.answer_ms is None or facts.end_ms is None:
        return
    measured = s.scalar(select(SegmentListen.id).where(SegmentListen.attempt_id == attempt.id)
                        .limit(1)) is not None
    # A play measured up to the loss of its session, after which the dialplan played on
    # alone, is incomplete: the log's marks cover the whole call, both parts.
    if not measured or facts.alone_ms is not None:
        s.flush()
        record_play(s, attempt.id, reconstruct(facts, _script(s, attempt.campaign_id)),
                    RECONSTRUCTED)
    if facts.optout_ms is not None:
        record = s.get(CallRecord, attempt.id)
        if record is not None:
            record.opted_out = True


def journaling(facts: FactsOf, record_optout: Callable[[str], None]) -> FactsOf:
    """*facts* that hand every opt-out they show to *record_optout* (``OptOuts.record_logged``:
    journaled, refused by the dialer, then stored) as they are read, before the call they
    concern is settled: one path for every reader of the log.

    Example: ``facts = journaling(cel_facts, optouts.record_logged)``
    """
    def read(node: str, attempt_id: str) -> CallFacts | None:
        found = facts(node, attempt_id)
        if found is not None and found.optout_ms is not None:
            record_optout(attempt_id)
        return found
    return read


def _script(s: Session, campaign_id: int) -> list[tuple[str, int]]:
    """(role, length ms) of the campaign's played segments in order, as the call flow plays
    them (callflow/store.campaign_script)."""
    rows = s.scalars(select(CampaignSegment).where(CampaignSegment.campaign_id == campaign_id)
                     .order_by(CampaignSegment.position))
    return [(seg.role, seg.asset.duration_ms) for seg in rows if seg.role in PLAYED_ROLES]
