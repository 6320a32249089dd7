"""The dialer's queries that need SQL: claiming, in-flight counts, shared pacing, caps.

Row locks (``FOR UPDATE``) make them safe for several controllers on PostgreSQL; on SQLite the
controller's transactions take the single write lock at BEGIN (``Database.session(writer=True)``),
so the same statements are safe there too.
"""
from __future__ import annotations

from sqlalchemy import Connection, Row, bindparam, case, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..dialer.states import INFLIGHT_STATES, OPEN_STATES, AttemptState, allowed_from
from .models import (AudioAsset, CallAttempt, CallRecord, Campaign, CampaignSegment, Contact,
                     ControllerLease, PaceBucket)
from .models_telecom import Trunk
from .session import db_clock_ms

# An ``unknown`` attempt this recent may still ring its callee: their number is in flight.
UNKNOWN_INFLIGHT_MS = 3_600_000


# The claim's statements are Core on table columns, built once here with bind parameters and
# run on the session's connection: a claim runs before every call on the controller's one
# database thread, and building a statement (and its cache key) or the ORM's unit of work
# cost more than the statement itself (issue 15's profile).
_A, _R, _C = CallAttempt.__table__.c, CallRecord.__table__.c, Campaign.__table__.c
_T, _P, _K = Trunk.__table__.c, PaceBucket.__table__.c, Contact.__table__.c
_S, _AU = CampaignSegment.__table__.c, AudioAsset.__table__.c


def holds_channel():
    """The attempts that count against channel caps: in flight, and ``unknown`` ones until
    Asterisk confirmed their channel gone (``channel_gone_ms``): they may still ring."""
    unknown = AttemptState.UNKNOWN
    return (_A.state.in_(INFLIGHT_STATES + (unknown,))
            & ((_A.state != unknown) | _A.channel_gone_ms.is_(None)))


_CLAIM_SETTINGS = (
    select(_C.status, _C.trunk, _C.max_channels, _C.cps, _C.windows, _C.retry_policy,
           _C.caller_id, _C.ring_timeout_s, _C.amd_policy, _T.max_channels.label("trunk_max"),
           _T.cps.label("trunk_cps"), _T.dial_prefix)
    .select_from(Campaign.__table__.outerjoin(Trunk.__table__, _T.name == _C.trunk))
    .where(_C.id == bindparam("cid")).with_for_update(of=Campaign.__table__))


def claim_settings(conn: Connection, campaign_id: int) -> Row | None:
    """The campaign's row, locked (its status, caps, pacing, windows, retry rules, caller ID),
    with its trunk's caps and dial prefix (None for a trunk the table does not know: the
    lab's). One statement.

    Example: ``row = claim_settings(s.connection(), 7); row.status, row.trunk_max``
    """
    return conn.execute(_CLAIM_SETTINGS, {"cid": campaign_id}).first()


_CHANNELS_HELD = (
    select(_A.node, func.sum(case((_A.campaign_id == bindparam("cid"), 1), else_=0)),
           func.sum(case((_A.trunk == bindparam("trunk"), 1), else_=0)), func.count())
    .where(holds_channel()).group_by(_A.node))


def channels_held(conn: Connection, campaign_id: int, trunk: str
                  ) -> tuple[int, int, dict[str, int]]:
    """(the campaign's, the trunk's, {node: n}) channels held now (:func:`holds_channel`), in
    one statement.

    Example: ``mine, on_trunk, per_node = channels_held(conn, 7, "ovh")``
    """
    rows = conn.execute(_CHANNELS_HELD, {"cid": campaign_id, "trunk": trunk}).all()
    return (sum(r[1] for r in rows), sum(r[2] for r in rows),
            {node: n for node, _c, _t, n in rows if node})


_LOCK_BUCKETS = (select(_P.scope, _P.tokens, _P.stamp)
                 .where(_P.scope.in_(bindparam("scopes", expanding=True)))
                 .order_by(_P.scope).with_for_update())
_STORE_BUCKET = (update(PaceBucket.__table__).where(_P.scope == bindparam("b_scope"))
                 .values(tokens=bindparam("b_tokens"), stamp=bindparam("b_stamp")))


def lock_buckets(conn: Connection, scopes: list[str], now: float) -> dict[str, Row]:
    """The token bucket rows (scope, tokens, stamp) of *scopes* ("campaign:7", "trunk:ovh",
    "node:n1"), created when missing and row-locked for this transaction, always in the order
    of their scope: every claim takes the same locks in the same order (no deadlock), before it
    counts the caps the rows guard. Creation is ``INSERT … ON CONFLICT DO NOTHING``: two
    controllers creating the same bucket at once both go on. (Arithmetic:
    ``dialer.pacing.Bucket``; written back by :func:`store_buckets`.)

    Example: ``rows = lock_buckets(s.connection(), ["campaign:7", "trunk:ovh"], time.time())``
    """
    wanted = sorted(set(scopes))
    rows = {row.scope: row for row in conn.execute(_LOCK_BUCKETS, {"scopes": wanted})}
    missing = [scope for scope in wanted if scope not in rows]
    if missing:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(PaceBucket.__table__).values(
            [{"scope": scope, "tokens": 1.0, "stamp": now} for scope in missing])
            .on_conflict_do_nothing(index_elements=["scope"]))
        rows = {row.scope: row for row in conn.execute(_LOCK_BUCKETS, {"scopes": wanted})}
    return rows


def store_buckets(conn: Connection, buckets: dict[str, tuple[float, float]]) -> None:
    """Write bucket states back: {scope: (tokens, stamp)}, rows locked by :func:`lock_buckets`."""
    conn.execute(_STORE_BUCKET, [{"b_scope": scope, "b_tokens": tokens, "b_stamp": stamp}
                                 for scope, (tokens, stamp) in buckets.items()])


DUE_LIMIT = 10      # queued attempts a claim looks at: the first usually goes
_DUE = (select(_A.id, _A.number, _A.contact_id, _K.time_zone, _K.consent_slot)
        .select_from(CallAttempt.__table__.outerjoin(Contact.__table__, _K.id == _A.contact_id))
        .where(_A.campaign_id == bindparam("cid"), _A.state == AttemptState.QUEUED,
               _A.not_before_ms <= bindparam("now_ms"))
        .order_by(_A.not_before_ms, _A.created_at, _A.id)
        .limit(DUE_LIMIT).with_for_update(skip_locked=True, of=CallAttempt.__table__))


def due_attempts(conn: Connection, campaign_id: int, now_ms: int) -> list[Row]:
    """Up to :data:`DUE_LIMIT` queued attempts that may be dialed now, oldest first, locked
    against other controllers (skipped when another holds them): (id, number, contact_id,
    time_zone, consent_slot), in the claim index's order (``ix_call_attempt_claim``).

    Example: ``due_attempts(s.connection(), 7, now_ms)[0].number``
    """
    return conn.execute(_DUE, {"cid": campaign_id, "now_ms": now_ms}).all()


_DEFER = (update(CallAttempt.__table__).where(_A.id == bindparam("a_id"))
          .values(not_before_ms=bindparam("a_not_before")))


def defer_attempt(conn: Connection, attempt_id: str, not_before_ms: int) -> None:
    """Leave a queued attempt for later (its window opens then; its callee is on the line)."""
    conn.execute(_DEFER, {"a_id": attempt_id, "a_not_before": not_before_ms})


_LOCK_CONTACT = select(_K.id).where(_K.id == bindparam("contact")).with_for_update()


def lock_contact(conn: Connection, contact_id: int) -> None:
    """Row-lock a contact for this transaction: two controllers claiming one person in two
    campaigns take turns. (Not sent to SQLite, whose writer already holds the one lock.)"""
    if conn.dialect.name != "sqlite":
        conn.execute(_LOCK_CONTACT, {"contact": contact_id})


def _number_use():
    unknown = AttemptState.UNKNOWN
    ringing = (_A.id != bindparam("attempt")) & (
        _A.state.in_(INFLIGHT_STATES)
        | ((_A.state == unknown) & (_R.originate_ms >= bindparam("unknown_since"))))
    dialed = (_R.originate_ms >= bindparam("since")) & _A.state.notin_((AttemptState.QUEUED,
                                                                       AttemptState.SKIPPED))
    return (select(func.sum(case((ringing, 1), else_=0)), func.sum(case((dialed, 1), else_=0)))
            .select_from(CallAttempt.__table__.outerjoin(CallRecord.__table__,
                                                         _R.attempt_id == _A.id))
            .where(_A.number == bindparam("number")))


_NUMBER_USE = _number_use()


def number_use(conn: Connection, number: str, attempt_id: str, now_ms: int, since_ms: int
               ) -> tuple[bool, int]:
    """In one statement, of every attempt for *number* (any campaign): whether another one
    may be ringing its callee now (in flight, or ``unknown`` and younger than an hour), and
    how many reached the network since *since_ms* (the per-number cap).

    Example: ``busy, dials = number_use(conn, "+33612345678", attempt_id, now_ms, since_ms)``
    """
    row = conn.execute(_NUMBER_USE, {"number": number, "attempt": attempt_id,
                                     "unknown_since": now_ms - UNKNOWN_INFLIGHT_MS,
                                     "since": since_ms}).one()
    return bool(row[0]), int(row[1] or 0)


_ADD_RECORD = insert(CallRecord.__table__)


def add_record(conn: Connection, **values) -> None:
    """Insert an attempt's call record (a claim's originate time, a skip's reason)."""
    conn.execute(_ADD_RECORD, values)


_SCRIPT_ROWS = (select(_S.position, _S.role, _AU.sha256, _AU.duration_ms)
                .join_from(CampaignSegment.__table__, AudioAsset.__table__,
                           _AU.id == _S.asset_id)
                .where(_S.campaign_id == bindparam("cid")).order_by(_S.position))


def script_rows(conn: Connection, campaign_id: int) -> list[Row]:
    """The campaign's segments in order: (position, role, sha256, duration_ms), one query."""
    return conn.execute(_SCRIPT_ROWS, {"cid": campaign_id}).all()


def next_due_ms(s: Session, campaign_id: int) -> int | None:
    return s.scalar(select(func.min(CallAttempt.not_before_ms))
                    .where(CallAttempt.campaign_id == campaign_id,
                           CallAttempt.state == AttemptState.QUEUED))


def open_attempts(s: Session, campaign_id: int) -> int:
    return s.scalar(select(func.count()).select_from(CallAttempt)
                    .where(CallAttempt.campaign_id == campaign_id,
                           CallAttempt.state.in_(OPEN_STATES))) or 0


_RECORD_ANSWER = (update(CallRecord.__table__)
                  .where(_R.attempt_id == bindparam("r_id"), _R.answer_ms.is_(None))
                  .values(answer_ms=bindparam("r_answer")))


def record_answer(s: Session, attempt_id: str, answer_ms: int) -> None:
    """Note when the attempt's call was answered, unless already noted (a statement built
    once: it runs once per answered call on the database thread every call shares)."""
    s.execute(_RECORD_ANSWER, {"r_id": attempt_id, "r_answer": answer_ms})


_HEARTBEAT = (update(ControllerLease.__table__)
              .where(ControllerLease.__table__.c.id == bindparam("lease"))
              .values(heartbeat_ms=db_clock_ms()))


def heartbeat(s: Session, lease_id: str) -> None:
    """Beat *lease_id*'s heartbeat, on the database's clock."""
    s.execute(_HEARTBEAT, {"lease": lease_id})


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
