"""The dialer's queries that need SQL: claiming, in-flight counts, shared pacing, caps.

Row locks (``FOR UPDATE``) make them safe for several controllers on PostgreSQL; SQLite has a
single writer, so the same statements are safe there too.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from ..dialer.states import INFLIGHT_STATES, OPEN_STATES, AttemptState, allowed_from
from .models import (AudioAsset, CallAttempt, CallRecord, CampaignSegment, ControllerLease,
                     PaceBucket)


def inflight_by(s: Session, column, value) -> int:
    return s.scalar(select(func.count()).select_from(CallAttempt)
                    .where(column == value, holds_channel())) or 0


def inflight_per_node(s: Session) -> dict[str, int]:
    rows = s.execute(select(CallAttempt.node, func.count())
                     .where(holds_channel())
                     .group_by(CallAttempt.node)).all()
    return {node: n for node, n in rows if node}


def holds_channel():
    """The attempts that count against channel caps: in flight, and ``unknown`` ones until
    Asterisk confirmed their channel gone (``channel_gone_ms``): they may still ring."""
    unknown = AttemptState.UNKNOWN
    return (CallAttempt.state.in_(INFLIGHT_STATES + (unknown,))
            & ((CallAttempt.state != unknown) | CallAttempt.channel_gone_ms.is_(None)))


def pace_bucket(s: Session, scope: str, now: float) -> PaceBucket:
    """The token bucket row of *scope*, row-locked for this transaction (its arithmetic:
    ``dialer.pacing.Bucket``)."""
    bucket = s.scalar(select(PaceBucket).where(PaceBucket.scope == scope).with_for_update())
    if bucket is None:
        bucket = PaceBucket(scope=scope, tokens=1.0, stamp=now)
        s.add(bucket)
    return bucket


def due_attempts(s: Session, campaign_id: int, now_ms: int, limit: int) -> list[CallAttempt]:
    """Queued attempts that may be dialed now, oldest first, locked against other controllers."""
    return list(s.scalars(
        select(CallAttempt).options(joinedload(CallAttempt.contact))
        .where(CallAttempt.campaign_id == campaign_id, CallAttempt.state == AttemptState.QUEUED,
               CallAttempt.not_before_ms <= now_ms)
        .order_by(CallAttempt.not_before_ms, CallAttempt.created_at, CallAttempt.id)
        .limit(limit).with_for_update(skip_locked=True, of=CallAttempt)))


def script_ms(s: Session, campaign_id: int) -> int:
    """The length of a campaign's whole script (an upper bound of one call's playing time)."""
    return s.scalar(select(func.coalesce(func.sum(AudioAsset.duration_ms), 0))
                    .join(CampaignSegment, CampaignSegment.asset_id == AudioAsset.id)
                    .where(CampaignSegment.campaign_id == campaign_id)) or 0


def next_due_ms(s: Session, campaign_id: int) -> int | None:
    return s.scalar(select(func.min(CallAttempt.not_before_ms))
                    .where(CallAttempt.campaign_id == campaign_id,
                           CallAttempt.state == AttemptState.QUEUED))


def open_attempts(s: Session, campaign_id: int) -> int:
    return s.scalar(select(func.count()).select_from(CallAttempt)
                    .where(CallAttempt.campaign_id == campaign_id,
                           CallAttempt.state.in_(OPEN_STATES))) or 0


def dials_since(s: Session, number: str, since_ms: int) -> int:
    """Attempts that reached the network for *number* (any campaign) since *since_ms*."""
    return s.scalar(select(func.count()).select_from(CallAttempt).join(CallRecord)
                    .where(CallAttempt.number == number, CallRecord.originate_ms >= since_ms,
                           CallAttempt.state.notin_((AttemptState.QUEUED,
                                                     AttemptState.SKIPPED)))) or 0


def record_answer(s: Session, attempt_id: str, answer_ms: int) -> None:
    """Note when the attempt's call was answered, unless already noted (a plain UPDATE, no ORM
    load: it runs once per answered call on the database thread every call shares)."""
    s.execute(update(CallRecord).where(CallRecord.attempt_id == attempt_id,
                                       CallRecord.answer_ms.is_(None))
              .values(answer_ms=answer_ms).execution_options(synchronize_session=False))


def heartbeat(s: Session, lease_id: str, now_ms: int) -> None:
    s.execute(update(ControllerLease).where(ControllerLease.id == lease_id)
              .values(heartbeat_ms=now_ms))


def orphaned_inflight(s: Session, lease_id: str, stale_before_ms: int) -> list[CallAttempt]:
    """In-flight attempts whose controller is gone (no lease, or a stale heartbeat)."""
    live = select(ControllerLease.id).where((ControllerLease.heartbeat_ms >= stale_before_ms) |
                                            (ControllerLease.id == lease_id))
    return list(s.scalars(select(CallAttempt)
                          .where(CallAttempt.state.in_(INFLIGHT_STATES),
                                 (CallAttempt.controller.is_(None)) |
                                 (CallAttempt.controller.notin_(live)))
                          .with_for_update(skip_locked=True)))


def cancel_queued(s: Session, campaign_id: int) -> None:
    """Cancel every attempt of the campaign that may still be cancelled (not dialed yet)."""
    cancelled = AttemptState.CANCELLED
    s.execute(update(CallAttempt).where(CallAttempt.campaign_id == campaign_id,
                                        CallAttempt.state.in_(allowed_from(cancelled)))
              .values(state=cancelled))
