"""The dialer's queries that need SQL: claiming, in-flight counts, shared pacing, caps.

Row locks (``FOR UPDATE``) make them safe for several controllers on PostgreSQL; on SQLite the
controller's transactions take the single write lock at BEGIN (``Database.session(writer=True)``),
so the same statements are safe there too.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from ..dialer.states import INFLIGHT_STATES, OPEN_STATES, AttemptState, allowed_from
from .models import (AudioAsset, CallAttempt, CallRecord, CampaignSegment, ControllerLease,
                     PaceBucket)
from .session import db_clock_ms

# An ``unknown`` attempt this recent may still ring its callee: their number is in flight.
UNKNOWN_INFLIGHT_MS = 3_600_000


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


def lock_buckets(s: Session, scopes: list[str], now: float) -> dict[str, PaceBucket]:
    """The token bucket rows of *scopes* ("campaign:7", "trunk:ovh", "node:n1"), created when
    missing and row-locked for this transaction, always in the order of their scope: every
    claim takes the same locks in the same order (no deadlock), before it counts the caps the
    rows guard. Creation is ``INSERT … ON CONFLICT DO NOTHING``: two controllers creating the
    same bucket at once both go on. (Arithmetic: ``dialer.pacing.Bucket``.)

    Example: ``rows = lock_buckets(s, ["campaign:7", "trunk:ovh"], time.time())``
    """
    wanted = sorted(set(scopes))
    query = select(PaceBucket).where(PaceBucket.scope.in_(wanted)) \
        .order_by(PaceBucket.scope).with_for_update()
    rows = {row.scope: row for row in s.scalars(query)}
    missing = [scope for scope in wanted if scope not in rows]
    if missing:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        s.execute(insert(PaceBucket).values([{"scope": scope, "tokens": 1.0, "stamp": now}
                                             for scope in missing])
                  .on_conflict_do_nothing(index_elements=["scope"]))
        fresh = query.execution_options(populate_existing=True)
        rows = {row.scope: row for row in s.scalars(fresh)}
    return rows


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


def number_in_flight(s: Session, number: str, attempt_id: str, now_ms: int) -> bool:
    """Whether another attempt for *number* (any campaign) may be ringing its callee now: in
    flight, or ``unknown`` and younger than an hour."""
    unknown = AttemptState.UNKNOWN
    recent = CallRecord.originate_ms >= now_ms - UNKNOWN_INFLIGHT_MS
    return s.scalar(select(func.count()).select_from(CallAttempt).outerjoin(CallRecord)
                    .where(CallAttempt.number == number, CallAttempt.id != attempt_id,
                           CallAttempt.state.in_(INFLIGHT_STATES)
                           | ((CallAttempt.state == unknown) & recent))) > 0


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


def heartbeat(s: Session, lease_id: str) -> None:
    """Beat *lease_id*'s heartbeat, on the database's clock."""
    s.execute(update(ControllerLease).where(ControllerLease.id == lease_id)
              .values(heartbeat_ms=db_clock_ms()))


def orphaned(lease_id: str, stale_after_ms: int):
    """The condition of an in-flight attempt whose controller is gone, as seen by *lease_id*:
    no controller, no lease, or a heartbeat older than *stale_after_ms* on the database's
    clock (never a host's own: two hosts' clocks may disagree)."""
    live = select(ControllerLease.id).where(
        (ControllerLease.heartbeat_ms >= db_clock_ms() - stale_after_ms)
        | (ControllerLease.id == lease_id))
    return CallAttempt.state.in_(INFLIGHT_STATES) & (
        CallAttempt.controller.is_(None) | CallAttempt.controller.notin_(live))


def orphaned_inflight(s: Session, lease_id: str, stale_after_ms: int) -> list[CallAttempt]:
    """In-flight attempts whose controller is gone (:func:`orphaned`), locked."""
    return list(s.scalars(select(CallAttempt).where(orphaned(lease_id, stale_after_ms))
                          .with_for_update(skip_locked=True)))


def take_over(s: Session, attempt_id: str, lease_id: str, stale_after_ms: int) -> bool:
    """Make *lease_id* the controller of an orphaned attempt, if it still is one: a
    conditional UPDATE, so of several controllers adopting at once only one wins, and a
    controller whose heartbeat came back keeps its call. Returns whether it happened."""
    row = CallAttempt.__table__.c
    stmt = update(CallAttempt.__table__).where(row.id == attempt_id,
                                               orphaned(lease_id, stale_after_ms))
    return s.execute(stmt.values(controller=lease_id)).rowcount == 1


def cancel_queued(s: Session, campaign_id: int) -> None:
    """Cancel every attempt of the campaign that may still be cancelled (not dialed yet)."""
    cancelled = AttemptState.CANCELLED
    s.execute(update(CallAttempt).where(CallAttempt.campaign_id == campaign_id,
                                        CallAttempt.state.in_(allowed_from(cancelled)))
              .values(state=cancelled))
