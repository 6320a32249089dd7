"""The call-detail row stream, read from the database in batches of columns.

Memory stays constant however many attempts there are: one query (segment results joined per
role) is read ``BATCH`` rows at a time (a server-side cursor on PostgreSQL). Each batch is
turned into columns, and whatever SQL can compute (durations, the opt-out flag) it computes;
what is left runs over whole columns rather than row by row, which is what makes a million
rows cheap. The same stream feeds the export writers and the report's figures.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from ..contacts.suppression import SuppressionStore
from ..contacts.tombstones import is_erased_token
from ..db import CallAttempt, CallRecord, Campaign, CampaignSegment, Contact, SegmentListen
from ..errors import NotFound
from .columns import BOOL, EPOCH, TS, columns_for
from .cost import TariffFor, billed_seconds, cost_of
from .geo import REGION_OF, departement_of
from .q850 import cause_text

# Rows per batch: large enough that per-batch costs vanish, small enough for constant memory;
# also the row count of one Parquet record batch.
BATCH = 2000
# An erased person's attempts hold an erasure token (or, erased before tokens, the HMAC
# pseudonym): kept as they are.
_ALREADY_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")

# One batch: a list of columns, each a sequence of values, in ``columns_for`` order.
Columns = list[Sequence]


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


def iter_batches(src: RowSource, key: str | bytes, pseudonymise: bool = True,
                 tariffs: TariffFor | None = None,
                 progress: Callable[[int], None] | None = None) -> Iterator[Columns]:
    """Yield the export rows a batch at a time, as columns in ``columns_for(src.roles,
    pseudonymise)`` order, rows ordered by campaign then originate time.

    Values are ``str``, ``int``, ``bool``, ``float`` or None; times are integer milliseconds
    since the epoch (UTC), which each writer formats its own way. *key* is the installation
    key; numbers become ``SuppressionStore.pseudonym`` unless *pseudonymise* is False.
    *tariffs* (None: no cost columns) gives a call's tariff from its trunk.

    Example::

        names = [name for name, _ in columns_for(src.roles)]
        for columns in iter_batches(open_rows(s, RowFilter(("muni",))), key):
            outcomes = columns[names.index("outcome")]
    """
    store = SuppressionStore(src.session, key)   # refuses an empty key, even for clear numbers
    pseudonym = _pseudonymiser(store, key) if pseudonymise else None
    kinds = [kind for _, kind in columns_for(src.roles, pseudonymise)]
    bools = [i for i, kind in enumerate(kinds) if kind == BOOL]
    departements = Remembered(departement_of)
    cost_of_call = _coster(tariffs) if tariffs is not None else None
    conn = src.session.connection()
    result = conn.execution_options(yield_per=BATCH).execute(_query(src))
    for batch in result.partitions():
        # The query's columns are the export's, but for the postcode (-> departement, region)
        # and the recorded cause text (-> cause text); the last one is the opt-out flag.
        (attempt_id, campaign, direction, attempt_no, state, node, trunk, caller_id, number,
         number_type, postcode, originate, answer, end, ring, connected, outcome, cause,
         cause_txt, hung_up_by, amd_result, amd_cause, precision, *segments,
         opted_out) = zip(*batch)
        if pseudonym is not None:
            number = list(map(pseudonym, number))
        departement = list(map(departements.__getitem__, postcode))
        if cost_of_call is None:
            billed = cost = (None,) * len(batch)
        else:
            billed, cost = zip(*map(cost_of_call, trunk, connected))
        columns: Columns = [
            attempt_id, campaign, direction, attempt_no, state, node, trunk, caller_id, number,
            number_type, departement, list(map(REGION_OF.get, departement)),
            originate, answer, end, ring, connected, outcome, cause,
            list(map(cause_text, cause, cause_txt)), hung_up_by, amd_result, amd_cause,
            precision, *segments, opted_out, billed, cost]
        for i in bools:
            columns[i] = list(map(_BOOLS.__getitem__, columns[i]))
        yield columns
        if progress is not None:
            progress(len(batch))


def iter_rows(src: RowSource, key: str | bytes, pseudonymise: bool = True,
              tariffs: TariffFor | None = None,
              progress: Callable[[int], None] | None = None) -> Iterator[dict]:
    """Yield one export row (a dict by column name) per attempt, ordered by campaign then
    originate time; times are aware ``datetime`` in UTC. Same arguments as ``iter_batches``.

    Example::

        src = open_rows(s, RowFilter(("muni",)))
        for row in iter_rows(src, settings.secret("installation-key")):
            print(row["attempt_id"], row["outcome"], row["message_listened_ms"])
    """
    columns = columns_for(src.roles, pseudonymise)
    names = [name for name, _ in columns]
    times = [i for i, (_, kind) in enumerate(columns) if kind == TS]
    for batch in iter_batches(src, key, pseudonymise, tariffs, progress):
        for i in times:
            batch[i] = list(map(_at, batch[i]))
        for values in zip(*batch):
            yield dict(zip(names, values))


def _query(src: RowSource):
    answer, end = CallRecord.answer_ms, CallRecord.end_ms
    columns = [
        CallAttempt.id, Campaign.name, CallRecord.direction, CallAttempt.attempt_no,
        CallAttempt.state, CallAttempt.node, CallAttempt.trunk, CallRecord.caller_id,
        CallAttempt.number, Contact.number_type, Contact.postcode, CallRecord.originate_ms,
        answer, end, func.coalesce(answer, end) - CallRecord.originate_ms, end - answer,
        CallRecord.outcome, CallRecord.hangup_cause, CallRecord.hangup_cause_txt,
        CallRecord.hung_up_by, CallRecord.amd_result, CallRecord.amd_cause,
        CallRecord.precision]
    joins = []
    for i, role in enumerate(src.roles):
        seg, earlier = (aliased(SegmentListen, name=f"{name}_{i}") for name in ("seg", "prev"))
        columns += [seg.length_ms, seg.listened_ms, seg.heard_full, seg.stop_reason]
        # A role played twice would be ambiguous in one column: the first play is the one kept.
        first_play = ~exists().where(earlier.attempt_id == CallAttempt.id, earlier.role == role,
                                     earlier.position < seg.position)
        joins.append((seg, and_(seg.attempt_id == CallAttempt.id, seg.role == role, first_play)))
    columns.append(case((CallRecord.attempt_id.is_(None), None), else_=CallRecord.opted_out))
    query = (select(*columns)
             .join(Campaign, Campaign.id == CallAttempt.campaign_id)
             .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id)
             .outerjoin(Contact, Contact.id == CallAttempt.contact_id))
    for seg, on in joins:
        query = query.outerjoin(seg, on)
    return _where(query, src).order_by(
        CallAttempt.campaign_id, CallRecord.originate_ms.nulls_last(), CallAttempt.id)


def _where(query, src: RowSource):
    if src.campaign_ids is not None:
        query = query.where(CallAttempt.campaign_id.in_(src.campaign_ids))
    if src.filter.since is not None:
        query = query.where(CallRecord.originate_ms >= _ms(src.filter.since))
    if src.filter.until is not None:
        query = query.where(CallRecord.originate_ms < _ms(src.filter.until))
    return query


def _pseudonymiser(store: SuppressionStore, key: str | bytes) -> Callable[[str], str]:
    """``store.pseudonym``, or the number itself if it is already one (an erased person's).
    ``keyed_hmac_sha256`` is used if it gives the store's pseudonym, which stays the one
    definition."""
    fast = keyed_hmac_sha256(key.encode() if isinstance(key, str) else key)
    probe = "+33100000000"
    hmac_of = fast if fast(probe) == store.pseudonym(probe) else store.pseudonym
    already = _ALREADY_PSEUDONYM.match

    def pseudonym(number: str) -> str:
        if is_erased_token(number) or (len(number) >= 64 and already(number)):
            return number
        return hmac_of(number)
    return pseudonym


def keyed_hmac_sha256(key: bytes) -> Callable[[str], str]:
    """HMAC-SHA256 of a text under *key*, in hex, at a third of ``hmac.new``'s cost per text
    (a million numbers took seconds): RFC 2104 as the hmac module computes it without OpenSSL,
    with the hash states of the padded key computed once and copied for each text.

    Example: ``keyed_hmac_sha256(b"k")("+33612345678") == hmac.new(b"k", b"+33612345678",
    "sha256").hexdigest()``
    """
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner_copy = hashlib.sha256(key.translate(_IPAD)).copy
    outer_copy = hashlib.sha256(key.translate(_OPAD)).copy

    def mac(text: str) -> str:
        inner = inner_copy()
        inner.update(text.encode())
        outer = outer_copy()
        outer.update(inner.digest())
        return outer.hexdigest()
    return mac


_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class Remembered(dict):
    """``f(value)``, computed once per value: ``map(r.__getitem__, column)`` then costs a C
    dict lookup per cell. For columns with few distinct values; starts over when large.

    Example: ``list(map(Remembered(departement_of).__getitem__, ["75001", None]))``
    """

    def __init__(self, f: Callable, size: int = 50_000):
        super().__init__()
        self._f, self._size = f, size

    def __missing__(self, value):
        if len(self) >= self._size:
            self.clear()
        result = self[value] = self._f(value)
        return result


class _Bools(dict):
    """SQLite's 0/1 (or any other value it was given) and PostgreSQL's booleans as bool,
    None kept: ``map(_BOOLS.__getitem__, column)`` runs without a Python call per value."""

    def __missing__(self, value):
        return bool(value)


_BOOLS = _Bools({None: None, 0: False, 1: True})


def _coster(tariffs: TariffFor) -> Callable[[str | None, int | None], tuple]:
    """(billed seconds, cost) of one call from its trunk and connected milliseconds."""
    costs = Remembered(lambda tariff_and_billed: round(float(cost_of(
        tariff_and_billed[1], tariff_and_billed[0].rate_per_minute)), 6))

    def billed_and_cost(trunk: str | None, connected: int | None) -> tuple:
        tariff = tariffs(trunk)
        if tariff is None:
            return None, None
        billed = billed_seconds(connected, tariff.increment_s, tariff.minimum_s)
        return billed, costs[tariff, billed]
    return billed_and_cost


def _at(ms: int | None) -> datetime | None:
    # Exact: no float seconds, so 123 ms never becomes 122.999.
    return EPOCH + timedelta(milliseconds=ms) if ms is not None else None


def _ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)
