"""One received SMS, as every transport hands it over."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Inbound:
    """One received SMS. *sender* as the transport gives it; *international*: the transport
    says it is in international format without its ``+`` (SMPP TON 1)."""

    sender: str
    text: str
    transport: str            # "smpp:<route>" or "sip:<trunk>"
    international: bool = False
