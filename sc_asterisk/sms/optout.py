"""An inbound ``STOP``: the sender is suppressed, with an audit entry, before any reply.

Through the project's one suppression store (contacts/suppression.py), as a DTMF opt-out is:
reason "opt-out", a source naming the channel, and an audit entry keyed by the number's
pseudonym. The confirmation text, when one is configured, leaves only after the transaction
that suppressed the sender has committed, and only the first time: a second STOP (or a carrier's
auto-reply answering our confirmation) gets no reply, so no loop.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy.orm import Session

from ..contacts.audit import record_audit
from ..contacts.numbers import NumberRejected, to_e164
from ..contacts.suppression import SuppressionStore
from ..db import Database
from .inbound import Inbound
from .stop import is_stop

SUPPRESSED, ALREADY, NO_NUMBER, NOT_STOP = "suppressed", "already", "no-number", "not-stop"


def sender_e164(message: Inbound, region: str = "FR") -> str | None:
    """The sender as E.164, or None if it is no phone number (an alphanumeric sender).

    Example: ``sender_e164(Inbound("33612345678", "STOP", "smpp:x", True)) == "+33612345678"``
    """
    raw = message.sender.strip()
    if message.international and raw.isdigit():
        raw = "+" + raw
    try:
        return to_e164(raw, region)
    except NumberRejected:
        return None


def suppress_sender(session: Session, key: str | bytes, e164: str, transport: str,
                    campaign: str | None = None) -> str:
    """Suppress *e164* in *session*'s transaction and audit it; SUPPRESSED or ALREADY.

    Example: ``suppress_sender(s, key, "+33612345678", "smpp:acme")``
    """
    store = SuppressionStore(session, key)
    if store.entry(e164) is not None:
        return ALREADY
    source = f"sms-stop:{transport}" + (f":{campaign}" if campaign else "")
    store.add(e164, "opt-out", source)
    record_audit(session, "sms-opt-out", store.pseudonym(e164),
                 {"transport": transport, "campaign": campaign}, actor=f"sms:{transport}"[:64])
    return SUPPRESSED


def handle_inbound(db: Database, key: str | bytes, message: Inbound,
                   acknowledge: Callable[[str, str], object] | None = None,
                   confirmation: str | None = None, campaign: str | None = None,
                   region: str = "FR") -> str:
    """Act on one inbound SMS: a STOP suppresses its sender (committed), then, if newly
    suppressed and a *confirmation* is set, ``acknowledge(e164, confirmation)`` sends it.
    Returns SUPPRESSED, ALREADY, NO_NUMBER or NOT_STOP.

    Example: ``handle_inbound(db, key, Inbound("0612345678", "STOP", "sip:acme"), send, "OK")``
    """
    if not is_stop(message.text):
        return NOT_STOP
    e164 = sender_e164(message, region)
    if e164 is None:
        return NO_NUMBER
    with db.session(writer=True) as s:
        outcome = suppress_sender(s, key, e164, message.transport, campaign)
    # committed here: a failed commit raised above, and nothing is acknowledged
    if outcome == SUPPRESSED and confirmation and acknowledge is not None:
        acknowledge(e164, confirmation)
    return outcome
