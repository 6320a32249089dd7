"""Campaign figures as pure functions over export rows.

Everything here reads only export columns, so an auditor can recompute each figure from a CSV,
JSONL or Parquet export (``columns.typed_row`` for CSV text). Memory is bounded by the script
length and the number of distinct numbers reached, not by the number of attempts.

Definitions (also printed by the report):
- dialled: rows with ``originate_at``; answered: rows with ``outcome == "answered"``.
- a callee's *script position* is the sum of the lengths of the segments heard in full, plus
  ``listened_ms`` of the first segment not heard in full; an answered call without segment
  results is at position 0.
- retention at second t: % of answered calls whose script position is >= t seconds.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from decimal import Decimal
from typing import Iterable

from .columns import NUMBER, PSEUDONYM
from .cost import TariffFor, billed_seconds, cost_of

ANSWERED = "answered"
MESSAGE, NOTICE = "message", "notice"


def script_position(row: dict, roles: list[str]) -> int:
    """Milliseconds into the script where this callee stopped listening (see module doc).

    Example: with message 20 s heard fully and 3.5 s of the notice, the position is 23500.
    """
    position = 0
    for role in roles:
        length = row.get(f"{role}_length_ms")
        if length is None:
            continue  # this campaign has no such segment, or the call flow never ran
        if row.get(f"{role}_heard_full"):
            position += length
        else:
            return position + (row.get(f"{role}_listened_ms") or 0)
    return position


def retention_curve(positions: Counter, answered: int, script_ms: int) -> list[float]:
    """% of *answered* callees whose position is >= t s, for t = 0 .. script_ms // 1000.

    >>> retention_curve(Counter({0: 1, 2500: 1, 4000: 2}), 4, 4000)
    [100.0, 75.0, 75.0, 50.0, 50.0]
    """
    if answered == 0:
        return []
    curve = []
    ordered = sorted(positions.items())
    for t in range(script_ms // 1000 + 1):
        still = sum(n for pos, n in ordered if pos >= t * 1000)
        curve.append(100.0 * still / answered)
    return curve


@dataclass
class FigureAccumulator:
    """Feed rows with ``add``, read the figures with ``result``. Example::

        acc = FigureAccumulator(roles=["message", "notice"], min_listen_s=10)
        for row in rows:
            acc.add(row)
        figures = acc.result()
    """

    roles: list[str]
    min_listen_s: int = 10
    tz: tzinfo = timezone.utc
    tariff_for: TariffFor | None = None
    attempts: int = 0
    dialled: int = 0
    answered: int = 0
    outcomes: Counter = field(default_factory=Counter)
    amd: Counter = field(default_factory=Counter)
    per_hour: Counter = field(default_factory=Counter)
    heard_min: int = 0
    heard_message: int = 0
    heard_notice: int = 0
    opted_out: int = 0
    message_ms: Counter = field(default_factory=Counter)
    positions: Counter = field(default_factory=Counter)
    scripts: Counter = field(default_factory=Counter)
    reached: set = field(default_factory=set)
    campaigns: set = field(default_factory=set)
    billed: Counter = field(default_factory=Counter)

    def add(self, row: dict) -> None:
        self.attempts += 1
        self.campaigns.add(row.get("campaign"))
        self.outcomes[row.get("outcome") or "pending"] += 1
        if row.get("originate_at") is not None:
            self.dialled += 1
            hour = row["originate_at"].astimezone(self.tz).replace(minute=0, second=0,
                                                                   microsecond=0)
            self.per_hour[hour.isoformat(timespec="minutes")] += 1
        if row.get("outcome") != ANSWERED:
            return
        self.answered += 1
        self.reached.add(row.get(PSEUDONYM) or row.get(NUMBER))
        self.amd[row.get("amd_result") or "not-run"] += 1
        listened = row.get(f"{MESSAGE}_listened_ms") or 0
        self.message_ms[listened] += 1
        self.heard_min += listened >= self.min_listen_s * 1000
        self.heard_message += bool(row.get(f"{MESSAGE}_heard_full"))
        self.heard_notice += bool(row.get(f"{NOTICE}_heard_full"))
        self.opted_out += bool(row.get("opted_out"))
        self.positions[script_position(row, self.roles)] += 1
        script = tuple((r, row.get(f"{r}_length_ms")) for r in self.roles
                       if row.get(f"{r}_length_ms") is not None)
        if script:
            self.scripts[script] += 1
        if self.tariff_for is not None:
            tariff = self.tariff_for(row.get("trunk"))
            if tariff is not None:
                self.billed[tariff] += billed_seconds(row.get("connected_ms"),
                                                      tariff.increment_s, tariff.minimum_s)

    def result(self) -> dict:
        """The figures as JSON-ready data (rates are fractions in [0, 1], None if undefined)."""
        answered = self.answered
        segments, script_ms = self._segments()
        return {
            "campaigns": sorted(c for c in self.campaigns if c is not None),
            "attempts": self.attempts,
            "dialled": self.dialled,
            "answered": answered,
            "answer_rate": _rate(answered, self.dialled),
            "unique_numbers_reached": len(self.reached),
            "outcomes": dict(sorted(self.outcomes.items())),
            "listen": {
                "min_listen_s": self.min_listen_s,
                "heard_min": self.heard_min, "heard_min_rate": _rate(self.heard_min, answered),
                "heard_full_message": self.heard_message,
                "heard_full_message_rate": _rate(self.heard_message, answered),
            },
            "message_listened_s": {"mean": _mean(self.message_ms),
                                   "median": _median(self.message_ms)},
            "notice_heard_full": self.heard_notice,
            "notice_heard_full_rate": _rate(self.heard_notice, answered),
            "opted_out": self.opted_out,
            "optout_rate": _rate(self.opted_out, answered),
            "amd": dict(sorted(self.amd.items())),
            "calls_per_hour": dict(sorted(self.per_hour.items())),
            "cost": self._cost(),
            "retention": {"segments": segments,
                          "curve": retention_curve(self.positions, answered, script_ms)},
        }

    def _segments(self) -> tuple[list[dict], int]:
        """Segment boundaries of the script most answered calls had."""
        if not self.scripts:
            return [], 0
        script, start, out = self.scripts.most_common(1)[0][0], 0, []
        for role, length in script:
            out.append({"role": role, "start_ms": start, "end_ms": start + length})
            start += length
        return out, start

    def _cost(self) -> dict | None:
        if self.tariff_for is None:
            return None
        total = sum((cost_of(s, t.rate_per_minute) for t, s in self.billed.items()), Decimal(0))
        return {"billed_s": sum(self.billed.values()),
                "amount": str(total.quantize(Decimal("0.01"))),
                "tariffs": [{"rate_per_minute": str(t.rate_per_minute),
                             "increment_s": t.increment_s, "minimum_s": t.minimum_s,
                             "billed_s": s} for t, s in self.billed.items()]}


def compute_figures(rows: Iterable[dict], roles: list[str], **options) -> dict:
    """All figures over an iterable of export rows; *options* as for FigureAccumulator.

    Example: ``compute_figures(rows, ["message", "notice"], min_listen_s=10)["listen"]``
    """
    acc = FigureAccumulator(roles=roles, **options)
    for row in rows:
        acc.add(row)
    return acc.result()


def _rate(n: int, d: int) -> float | None:
    return n / d if d else None


def _mean(values: Counter) -> float | None:
    count = sum(values.values())
    return sum(v * n for v, n in values.items()) / count / 1000 if count else None


def _median(values: Counter) -> float | None:
    """Exact median (mean of the two middle values for an even count), in seconds."""
    count = sum(values.values())
    if not count:
        return None
    middle, seen, lower = (count - 1) // 2, 0, None
    for value, n in sorted(values.items()):
        if lower is None and seen + n > middle:
            lower = value
        if seen + n > count // 2:
            return (lower + value) / 2 / 1000
        seen += n
    raise AssertionError("unreachable")
