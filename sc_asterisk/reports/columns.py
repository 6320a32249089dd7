"""The call-detail export's columns: names, types, and the way back from text to typed values.

Values are ``str``, ``int``, ``bool``, ``float``, a time or ``None``. Times travel as integer
milliseconds since ``EPOCH`` in the batches the writers format (``rows.iter_batches``), and as
aware ``datetime`` (UTC) in the dict rows the report's figures read (``rows.iter_rows``): the same
stream feeds both, so every figure can be recomputed from a file. ``typed_row`` turns a CSV row
back into exactly the values the report saw.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Mapping

from ..errors import ConfigError

STR, INT, BOOL, TS, FLOAT = "string", "int64", "bool", "timestamp", "float64"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Where a clear number would go, a pseudonymised export has ``number_pseudonym`` instead, so a
# file's header alone says whether it holds personal numbers.
NUMBER, PSEUDONYM = "number", "number_pseudonym"

BASE_BEFORE_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("attempt_id", STR), ("campaign", STR), ("direction", STR), ("attempt_no", INT),
    ("state", STR), ("node", STR), ("trunk", STR), ("caller_id", STR),
    (NUMBER, STR), ("number_type", STR), ("departement", STR), ("region", STR),
    ("originate_at", TS), ("answer_at", TS), ("end_at", TS), ("ring_ms", INT),
    ("connected_ms", INT), ("outcome", STR), ("hangup_cause", INT), ("hangup_cause_txt", STR),
    ("hung_up_by", STR), ("amd_result", STR), ("amd_cause", STR),
    # listened ms "measured" by the call flow, or "reconstructed" from Asterisk's CEL
    ("precision", STR),
)
BASE_AFTER_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("opted_out", BOOL), ("billed_s", INT), ("cost", FLOAT),
)
SEGMENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("length_ms", INT), ("listened_ms", INT), ("heard_full", BOOL), ("stop_reason", STR),
)


def role_prefix(role: str) -> str:
    """Column prefix of a segment role: ``role_prefix("optout-intro") == "optout_intro"``."""
    return role.replace("-", "_")


def columns_for(roles: Iterable[str], pseudonymise: bool = True) -> list[tuple[str, str]]:
    """Every export column as (name, type), segment columns in script order.

    Example: ``[n for n, _ in columns_for(["message"])][-7:-3]`` ->
    ``["message_length_ms", "message_listened_ms", "message_heard_full", "message_stop_reason"]``
    """
    base = [((PSEUDONYM if pseudonymise else NUMBER) if name == NUMBER else name, kind)
            for name, kind in BASE_BEFORE_SEGMENTS]
    segments = [(f"{role_prefix(role)}_{field}", kind)
                for role in roles for field, kind in SEGMENT_FIELDS]
    return base + segments + list(BASE_AFTER_SEGMENTS)


def choose_fields(columns: list[tuple[str, str]], fields: Iterable[str] | None
                  ) -> list[tuple[str, str]]:
    """The columns named in *fields* (comma-separated items allowed), in that order; all if empty.

    Example: ``choose_fields(columns_for(["message"]), ["attempt_id,outcome"])``
    """
    wanted = [f.strip() for item in (fields or ()) for f in item.split(",") if f.strip()]
    if not wanted:
        return list(columns)
    known = dict(columns)
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)}",
                          fix="choose among: " + ", ".join(known))
    return [(f, known[f]) for f in dict.fromkeys(wanted)]


def segment_roles(header: Iterable[str]) -> list[str]:
    """Segment column prefixes in script order, read back from an export's header.

    Example: ``segment_roles(["attempt_id", "message_listened_ms", "notice_listened_ms"])``
    -> ``["message", "notice"]``
    """
    suffix = "_listened_ms"
    return [name[:-len(suffix)] for name in header if name.endswith(suffix)]


def column_type(name: str) -> str:
    """The type of any export column, segment columns included.

    Example: ``column_type("notice_heard_full") == "bool"``
    """
    for base, kind in BASE_BEFORE_SEGMENTS + BASE_AFTER_SEGMENTS + ((PSEUDONYM, STR),):
        if name == base:
            return kind
    for field, kind in SEGMENT_FIELDS:
        if name.endswith("_" + field):
            return kind
    raise ConfigError(f"{name!r} is not an export column", fix="see sc-asterisk cdr export -h")


def typed_row(raw: Mapping[str, str]) -> dict:
    """A CSV or JSONL row back to the values the export wrote: '' is None, ints, booleans,
    ISO 8601 times, decimal point or comma (``--excel``) for floats. Values that are not text
    (JSON numbers and booleans) are kept.

    Example: ``typed_row({"ring_ms": "812", "opted_out": "false"})``
    -> ``{"ring_ms": 812, "opted_out": False}``
    """
    out = {}
    for name, text in raw.items():
        kind = column_type(name)
        if not isinstance(text, str):
            out[name] = text
        elif text == "":
            out[name] = None
        elif kind == INT:
            out[name] = int(text)
        elif kind == BOOL:
            out[name] = {"true": True, "false": False}[text]
        elif kind == TS:
            out[name] = datetime.fromisoformat(text)
        elif kind == FLOAT:
            out[name] = float(text.replace(",", "."))
        else:
            out[name] = text
    return out
