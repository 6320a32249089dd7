"""What an SMS campaign will cost: exact over its audience, contact by contact.

Each contact's text is rendered and encoded as it will be sent, so a name that forces UCS-2
(Zoë, Anaïs) or lengthens the text counts as what it is; no worst case is assumed. Texts past
the parts limit are counted apart: they would be refused, not sent.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from ..errors import ConfigError
from .encoding import DEFAULT_MAX_PARTS, MessageTooLong, encode
from .template import SmsTemplate


@dataclass
class Estimate:
    """Example: ``f"{e.messages} SMS, {e.parts} parts, {e.cost} EUR"``"""

    price_per_part: Decimal
    messages: int = 0
    parts: int = 0
    by_encoding: Counter = field(default_factory=Counter)
    by_parts: Counter = field(default_factory=Counter)   # {part count: messages}
    too_long: int = 0
    empty: int = 0        # rendered to nothing: every field of the text missing

    @property
    def cost(self) -> Decimal:
        return self.parts * self.price_per_part


def parse_price(text: str | Decimal) -> Decimal:
    """A price per SMS part in the currency's units; ConfigError if it is not one.

    Example: ``parse_price("0,045") == Decimal("0.045")``
    """
    try:
        price = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price < 0:
        raise ConfigError(f"price per part {text!r} is not a price",
                          fix="give a non-negative number such as 0.045")
    return price


def estimate(template: SmsTemplate, contacts: Iterable[Any], price_per_part: Decimal,
             max_parts: int = DEFAULT_MAX_PARTS) -> Estimate:
    """Render and count every contact's message.

    Example: ``estimate(t, audience, parse_price("0.045")).cost``
    """
    result = Estimate(price_per_part)
    for contact in contacts:
        text = template.render(contact)
        if not text:
            result.empty += 1
            continue
        try:
            encoded = encode(text, max_parts)
        except MessageTooLong:
            result.too_long += 1
            continue
        result.messages += 1
        result.parts += encoded.part_count
        result.by_encoding[encoded.encoding] += 1
        result.by_parts[encoded.part_count] += 1
    return result
