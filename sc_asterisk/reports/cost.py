"""Call cost from a trunk tariff: pure arithmetic on connected milliseconds.

Carriers bill answered time rounded up to a billing increment, often with a first period
charged in full ("60/60", "30/6", "1/1"). Unanswered attempts cost nothing here.
Money is ``Decimal`` so a campaign total does not depend on summation order.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping

from ..errors import ConfigError


@dataclass(frozen=True)
class Tariff:
    """A per-minute rate billed in increments of ``increment_s`` seconds, at least ``minimum_s``.

    Example: ``Tariff(Decimal("0.012"), increment_s=60)`` (per started minute)
    """

    rate_per_minute: Decimal
    increment_s: int = 1
    minimum_s: int = 0

    def __post_init__(self) -> None:
        if self.rate_per_minute < 0:
            raise ConfigError("negative rate per minute", fix="pass e.g. --rate-per-minute 0.012")
        if self.increment_s < 1 or self.minimum_s < 0:
            raise ConfigError("billing increment must be >= 1 s",
                              fix="pass e.g. --billing-increment 60")


# Which tariff applies to a call: one for every trunk, or looked up by trunk name.
TariffFor = Callable[[str | None], Tariff | None]


def tariff_lookup(tariffs: Tariff | Mapping[str, Tariff] | None) -> TariffFor:
    """A trunk -> tariff function from one tariff for all trunks or a per-trunk mapping.

    Example: ``tariff_lookup({"ovh": Tariff(Decimal("0.01"))})("ovh")``
    """
    if tariffs is None:
        return lambda _trunk: None
    if isinstance(tariffs, Tariff):
        return lambda _trunk: tariffs
    return lambda trunk: tariffs.get(trunk or "")


def billed_seconds(connected_ms: int | None, increment_s: int = 1, minimum_s: int = 0) -> int:
    """Seconds a carrier bills for *connected_ms* of answered time (0 when not connected).

    >>> billed_seconds(61_001, increment_s=60)
    120
    >>> billed_seconds(4_200, increment_s=1, minimum_s=30)
    30
    >>> billed_seconds(None)
    0
    """
    if connected_ms is None or connected_ms < 0:
        return 0
    increments = -(-connected_ms // (increment_s * 1000))  # ceiling, in integers
    return max(increments * increment_s, minimum_s if connected_ms > 0 else 0)


def cost_of(billed_s: int, rate_per_minute: Decimal) -> Decimal:
    """Price of *billed_s* seconds at a per-minute rate (exact).

    Example: ``cost_of(90, Decimal("0.02")) == Decimal("0.03")``
    """
    return rate_per_minute * billed_s / 60
