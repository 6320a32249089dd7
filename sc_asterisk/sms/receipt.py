"""SMPP 3.4 delivery receipts (a ``deliver_sm`` whose esm_class says so): a pure parser.

The message id and state come from the optional parameters ``receipted_message_id`` and
``message_state`` when the SMSC sends them, else from the text of SMPP 3.4 appendix B
(``id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:000 text:…``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

RECEIPT_ESM_MASK = 0x3C        # the esm_class bits saying what kind of deliver_sm it is
RECEIPT_ESM = 0x04             # SMSC delivery receipt
# message_state values (SMPP 3.4 5.2.28) and the receipt text's stat: words
STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
          7: "UNKNOWN", 8: "REJECTD"}
DELIVERED, FAILED, PENDING = "delivered", "failed", "pending"
OUTCOME = {"DELIVRD": DELIVERED, "EXPIRED": FAILED, "DELETED": FAILED, "UNDELIV": FAILED,
           "REJECTD": FAILED, "UNKNOWN": FAILED, "ENROUTE": PENDING, "ACCEPTD": PENDING}
_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    """Example: ``Receipt("5f3a", "DELIVRD", "000").outcome == "delivered"``"""

    message_id: str
    state: str
    error: str = ""

    @property
    def outcome(self) -> str:
        return OUTCOME.get(self.state, FAILED)


def is_receipt(esm_class: int) -> bool:
    """Example: ``is_receipt(0x04) and not is_receipt(0x00)``"""
    return (esm_class or 0) & RECEIPT_ESM_MASK == RECEIPT_ESM


def parse_receipt(short_message: bytes | str | None, receipted_message_id: bytes | str | None = None,
                  message_state: int | None = None) -> Receipt | None:
    """The receipt, or None when neither the parameters nor the text name a message.

    Example: ``parse_receipt(b"id:7 sub:001 dlvrd:001 stat:DELIVRD err:000").message_id == "7"``
    """
    text = _text(short_message)
    fields = {k.lower(): v for k, v in _FIELD.findall(text.split("text:", 1)[0])}
    message_id = _text(receipted_message_id).strip("\x00 ") or fields.get("id", "")
    if not message_id:
        return None
    state = STATES.get(message_state or 0) or fields.get("stat", "").upper() or "UNKNOWN"
    return Receipt(message_id, state, fields.get("err", ""))


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value
