"""The call-detail row stream: one dict per call attempt, read from the database in batches.

Memory stays constant however many attempts there are: attempts are read with a server-side
cursor ``yield_per`` rows at a time, and each batch's segment results are fetched with one
``IN`` query. The same stream feeds the export writers and the report's figures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..contacts.suppression import SuppressionStore
from ..db import CallAttempt, CallRecord, Campaign, CampaignSegment, Contact, SegmentListen
from ..errors import NotFound
from .columns import NUMBER, PSEUDONYM, SEGMENT_FIELDS, role_prefix
from .cost import Tariff, TariffFor, billed_seconds, cost_of, tariff_lookup
from .geo import departement_of, region_of
from .q850 import cause_text

BATCH = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# An erased person's attempts already hold HMAC(installation key, E.164): the pseudonym itself.
_ALREADY_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RowFilter:
    """Which attempts to export: campaigns by name (all if empty), dialled in [since, until).

    Example: ``RowFilter(campaigns=("muni",), since=datetime(2024, 5, 1, tzinfo=timezone.utc))``
    """

    campaigns: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class RowSource:
    """The attempts matched by a filter, and the segment roles their campaigns play, in order."""

    session: Session
    filter: RowFilter
    campaign_ids: list[int] | None
    roles: list[str] = field(default_factory=list)


def open_rows(session: Session, filt: RowFilter) -> RowSource:
    """Resolve campaign names (NotFound names the fix) and the roles present.

    Example: ``src = open_rows(s, RowFilter(("muni",))); src.roles == ["message", "notice"]``
    """
    ids = None
    if filt.campaigns:
        found = dict(session.execute(select(Campaign.name, Campaign.id)
                                     .where(Campaign.name.in_(filt.campaigns))).all())
        missing = [n for n in filt.campaigns if n not in found]
        if missing:
            raise NotFound(f"no campaign named {', '.join(map(repr, missing))}",
                           fix="see: sc-asterisk campaign list")
        ids = sorted(found.values())
    query = select(CampaignSegment.campaign_id, CampaignSegment.role).order_by(
        CampaignSegment.campaign_id, CampaignSegment.position)
    if ids is not None:
        query = query.where(CampaignSegment.campaign_id.in_(ids))
    scripts: dict[int, list[str]] = {}
    for campaign_id, role in session.execute(query):
        scripts.setdefault(campaign_id, []).append(role)
    return RowSource(session, filt, ids, merge_scripts(scripts.values()))


def merge_scripts(scripts: Iterable[list[str]]) -> list[str]:
    """One role order that keeps every campaign's play order (segment columns must follow the
    script, or a script position computed from the header would be wrong).

    >>> merge_scripts([["message", "notice"], ["optout-intro", "message", "notice"]])
    ['optout-intro', 'message', 'notice']
    """
    merged: list[str] = []
    for roles in scripts:
        at = -1
        for role in roles:
            if role in merged:
                at = merged.index(role)
            else:
                at += 1
                merged.insert(at, role)
    return merged


def count_rows(src: RowSource) -> int:
    """How many rows ``iter_rows`` will yield (for a progress bar).

    Example: ``count_rows(open_rows(s, RowFilter()))``
    """
    query = _where(select(func.count()).select_from(CallAttempt)
                   .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id), src)
    return src.session.scalar(query) or 0


def iter_rows(src: RowSource, key: str | bytes, pseudonymise: bool = True,
              tariffs: TariffFor | None = None,
              progress: Callable[[int], None] | None = None) -> Iterator[dict]:
    """Yield one export row per attempt, ordered by campaign then originate time.

    *key* is the installation key; numbers become ``SuppressionStore.pseudonym`` (the same
    HMAC-SHA256 the suppression store and erasure use) unless *pseudonymise* is False.

    Example::

        src = open_rows(s, RowFilter(("muni",)))
        for row in iter_rows(src, settings.secret("installation-key")):
            print(row["attempt_id"], row["outcome"], row["message_listened_ms"])
    """
    pseudonym = SuppressionStore(src.session, key).pseudonym
    tariff_for = tariffs or tariff_lookup(None)
    segment_columns = [(role, tuple(f"{role_prefix(role)}_{f}" for f, _ in SEGMENT_FIELDS))
                       for role in src.roles]
    query = _where(
        select(CallAttempt.id, Campaign.name.label("campaign"), CallAttempt.attempt_no,
               CallAttempt.state, CallAttempt.node, CallAttempt.trunk, CallAttempt.number,
               Contact.number_type, Contact.postcode, CallRecord.direction, CallRecord.outcome,
               CallRecord.originate_ms, CallRecord.answer_ms, CallRecord.end_ms,
               CallRecord.hangup_cause, CallRecord.hangup_cause_txt, CallRecord.hung_up_by,
               CallRecord.caller_id, CallRecord.amd_result, CallRecord.amd_cause,
               CallRecord.opted_out, CallRecord.attempt_id.label("has_record"))
        .join(Campaign, Campaign.id == CallAttempt.campaign_id)
        .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id)
        .outerjoin(Contact, Contact.id == CallAttempt.contact_id), src
    ).order_by(CallAttempt.campaign_id, CallRecord.originate_ms.nulls_last(), CallAttempt.id)
    # Core rows on the session's connection: the ORM's per-row machinery would triple the time.
    conn = src.session.connection()
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for batch in result.partitions():
        segments = _segments(conn, [r[0] for r in batch])
        for r in batch:
            attempt_id, trunk, number = r[0], r[5], r[6]
            if pseudonymise and not _ALREADY_PSEUDONYM.match(number):
                number = pseudonym(number)
            yield build_row(tuple(r), number, pseudonymise, segment_columns,
                            segments.get(attempt_id, _NONE), tariff_for(trunk))
        if progress is not None:
            progress(len(batch))


_NONE: dict = {}
_NO_SEGMENT = (None, None, None, None)


def build_row(r, number: str, pseudonymise: bool, segment_columns: list, segments: dict,
              tariff: Tariff | None) -> dict:
    """One export row from one attempt's columns (a tuple in the order of ``iter_rows``'s
    query) and its segment results by role. Pure.

    *segment_columns*: [(role, (length, listened, heard_full, stop_reason column names))];
    *segments*: {role: (length_ms, listened_ms, heard_full, stop_reason)}.
    """
    (attempt_id, campaign, attempt_no, state, node, trunk, _number, number_type, postcode,
     direction, outcome, originate, answer, end, cause, cause_txt, hung_up_by, caller_id,
     amd_result, amd_cause, opted_out, has_record) = r
    answered = answer is not None
    ring_end = answer if answered else end
    departement = departement_of(postcode)
    connected = end - answer if answered and end is not None else None
    row = {
        "attempt_id": attempt_id, "campaign": campaign, "direction": direction,
        "attempt_no": attempt_no, "state": state, "node": node, "trunk": trunk,
        "caller_id": caller_id, (PSEUDONYM if pseudonymise else NUMBER): number,
        "number_type": number_type, "departement": departement,
        "region": region_of(departement),
        "originate_at": _at(originate), "answer_at": _at(answer), "end_at": _at(end),
        "ring_ms": ring_end - originate if originate is not None and ring_end is not None else None,
        "connected_ms": connected, "outcome": outcome, "hangup_cause": cause,
        "hangup_cause_txt": cause_text(cause, cause_txt),
        "hung_up_by": hung_up_by, "amd_result": amd_result, "amd_cause": amd_cause,
    }
    for role, names in segment_columns:
        row.update(zip(names, segments.get(role, _NO_SEGMENT)))
    row["opted_out"] = bool(opted_out) if has_record is not None else None
    if tariff is None:
        row["billed_s"] = row["cost"] = None
    else:
        billed = billed_seconds(connected, tariff.increment_s, tariff.minimum_s)
        row["billed_s"] = billed
        row["cost"] = round(float(cost_of(billed, tariff.rate_per_minute)), 6)
    return row


def _where(query, src: RowSource):
    if src.campaign_ids is not None:
        query = query.where(CallAttempt.campaign_id.in_(src.campaign_ids))
    if src.filter.since is not None:
        query = query.where(CallRecord.originate_ms >= _ms(src.filter.since))
    if src.filter.until is not None:
        query = query.where(CallRecord.originate_ms < _ms(src.filter.until))
    return query


def _segments(conn, attempt_ids: list[str]) -> dict[str, dict]:
    # Through the DBAPI cursor of the same connection: SQLAlchemy's statement handling cost
    # half of this per batch, and the columns need no conversion but the boolean.
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(
            "SELECT attempt_id, role, length_ms, listened_ms, heard_full, stop_reason"
            f" FROM {SegmentListen.__tablename__}"
            f" WHERE attempt_id IN ({', '.join([mark] * len(attempt_ids))})"
            " ORDER BY attempt_id, position", attempt_ids)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    by_attempt: dict[str, dict] = {}
    for attempt_id, role, length, listened, full, stop in rows:
        # A role played twice would be ambiguous in one column: the first play is the one kept.
        by_attempt.setdefault(attempt_id, {}).setdefault(
            role, (length, listened, None if full is None else bool(full), stop))
    return by_attempt


def _at(ms: int | None) -> datetime | None:
    # Exact: no float seconds, so 123 ms never becomes 122.999.
    return EPOCH + timedelta(milliseconds=ms) if ms is not None else None


def _ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)

