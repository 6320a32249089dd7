"""Synthetic call data for tests and benchmarks: a campaign script and calls, bulk-inserted.

Numbers are drawn from ARCEP's fiction range (+33 1 99 00 xx xx and neighbours), never real.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from datetime import datetime, timezone

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from sc_asterisk.db import (AudioAsset, CallAttempt, CallRecord, Campaign, CampaignSegment,
                            Contact, Database, SegmentListen)

T0_MS = 1_714_550_400_000  # 2024-05-01T08:00:00Z


@dataclass
class Call:
    """One attempt and what happened. ``segments``: (role, length, listened, heard_full, stop)."""

    id: str
    number: str
    outcome: str | None = "answered"
    originate_ms: int | None = T0_MS
    answer_ms: int | None = None
    end_ms: int | None = None
    hangup_cause: int | None = 16
    hung_up_by: str | None = None
    amd_result: str | None = None
    opted_out: bool = False
    trunk: str = "lab"
    postcode: str | None = None
    segments: list[tuple[str, int, int, bool, str]] = field(default_factory=list)


def create_campaign(db: Database, name: str, script: list[tuple[str, int]]) -> int:
    """A campaign whose script is *script* as (role, length ms); returns its id.

    Example: ``create_campaign(db, "muni", [("message", 20000), ("notice", 15000)])``
    """
    with db.session() as s:
        campaign = Campaign(name=name, status="completed", caller_id="+33199000000")
        for position, (role, length) in enumerate(script):
            asset = AudioAsset(name=f"{name}-{role}", sha256=hashlib.sha256(role.encode())
                               .hexdigest(), duration_ms=length, source_filename=f"{role}.wav",
                               data=b"")
            campaign.segments.append(CampaignSegment(position=position, role=role, asset=asset))
        s.add(campaign)
        s.flush()
        return campaign.id


def insert_calls(db: Database, campaign_id: int, calls: Iterable[Call], chunk: int = 20_000
                 ) -> int:
    """Bulk-insert calls (contacts, attempts, records, segment results) with executemany.

    Example: ``insert_calls(db, cid, synthetic_calls(200_000, script))``
    """
    total, buffer = 0, []
    for call in calls:
        buffer.append(call)
        if len(buffer) >= chunk:
            total += _insert(db, campaign_id, buffer)
            buffer = []
    return total + _insert(db, campaign_id, buffer)


def synthetic_calls(n: int, script: list[tuple[str, int]], seed: int = 7,
                    prefix: str = "syn") -> Iterator[Call]:
    """*n* plausible calls: 60 % answered, listeners dropping off along the script.

    Example: ``list(synthetic_calls(3, [("message", 20000)]))[0].outcome``
    """
    rng = random.Random(seed)
    script_ms = sum(length for _, length in script)
    for i in range(n):
        originate = T0_MS + i * 250
        number = f"+3319{i:08d}"
        kind = rng.random()
        if kind >= 0.6:
            outcome, cause = rng.choice([("busy", 17), ("no_answer", 19), ("rejected", 21)])
            yield Call(f"{prefix}-{i}", number, outcome, originate, None,
                       originate + rng.randint(500, 30000), cause, postcode=f"{75001 + i % 20}")
            continue
        answer = originate + rng.randint(2000, 15000)
        heard = min(int(rng.expovariate(1 / (script_ms * 0.7))), script_ms)
        segments, position = [], 0
        for role, length in script:
            listened = max(0, min(length, heard - position))
            full = listened == length
            stop = "end" if full else ("hangup" if listened or position <= heard else "not_reached")
            segments.append((role, length, listened, full, stop))
            position += length
        yield Call(f"{prefix}-{i}", number, "answered", originate, answer, answer + heard, 16,
                   "callee" if heard < script_ms else "system",
                   amd_result=rng.choice(["HUMAN", "HUMAN", "MACHINE", None]),
                   opted_out=rng.random() < 0.03, postcode=f"{13001 + i % 16}",
                   segments=segments)


def _insert(db: Database, campaign_id: int, calls: list[Call]) -> int:
    if not calls:
        return 0
    now = datetime.now(timezone.utc)
    stamps = {"created_at": now, "updated_at": now}
    with db.session() as s:
        numbers = [c.number for c in calls]
        known = set(s.scalars(select(Contact.e164).where(Contact.e164.in_(numbers))))
        # The same person may be called by several campaigns: one contact each.
        new = {c.number: c for c in calls if c.number not in known}
        _bulk(s, Contact.__table__, ("e164", "number_type", "postcode"),
              [(c.number, "fixed_line", c.postcode) for c in new.values()],
              {**stamps, "attributes": {}})
        ids = dict(s.execute(select(Contact.e164, Contact.id)
                             .where(Contact.e164.in_(numbers))).all())
        _bulk(s, CallAttempt.__table__, ("id", "campaign_id", "contact_id", "number",
                                         "attempt_no", "state", "node", "trunk"),
              [(c.id, campaign_id, ids[c.number], c.number, 1, "finished", "lab", c.trunk)
               for c in calls], stamps)
        _bulk(s, CallRecord.__table__, ("attempt_id", "direction", "outcome", "originate_ms",
                                        "answer_ms", "end_ms", "hangup_cause", "hung_up_by",
                                        "caller_id", "amd_result", "opted_out"),
              [(c.id, "outbound", c.outcome, c.originate_ms, c.answer_ms, c.end_ms,
                c.hangup_cause, c.hung_up_by, "+33199000000", c.amd_result, c.opted_out)
               for c in calls])
        _bulk(s, SegmentListen.__table__, ("attempt_id", "position", "role", "length_ms",
                                           "listened_ms", "heard_full", "stop_reason"),
              [(c.id, pos, *segment) for c in calls for pos, segment in enumerate(c.segments)])
    return len(calls)


def _bulk(session: Session, table: Table, names: tuple[str, ...], rows: list[tuple],
          constants: dict | None = None) -> None:
    """executemany straight to the driver: SQLAlchemy's per-row parameter handling would make
    a million-row fixture take minutes. *constants* (same value on every row) go through their
    column type's bind processor once; the other values must be driver-ready."""
    if not rows:
        return
    conn = session.connection()
    extra = []
    for name, value in (constants or {}).items():
        process = table.c[name].type._cached_bind_processor(conn.dialect)
        extra.append(process(value) if process else value)
    if extra:
        names, tail = (*names, *(constants or {})), tuple(extra)
        rows = [row + tail for row in rows]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) "
                         f"VALUES ({', '.join([mark] * len(names))})", rows)
