"""Outcome of an attempt from what Asterisk reports: the Q.850 hangup cause and the
OriginateResponse reason. Pure functions."""
from __future__ import annotations

ANSWERED, BUSY, NO_ANSWER, REJECTED, UNAVAILABLE, INVALID, FAILED, MACHINE = (
    "answered", "busy", "no_answer", "rejected", "unavailable", "invalid_number", "failed",
    "machine")

# Q.850 causes (Asterisk's AST_CAUSE_*), grouped the way a retry rule needs them.
_CAUSES = {
    17: BUSY,
    18: NO_ANSWER, 19: NO_ANSWER,
    21: REJECTED,
    1: INVALID, 3: INVALID, 28: INVALID,
    27: UNAVAILABLE, 34: UNAVAILABLE, 38: UNAVAILABLE, 41: UNAVAILABLE, 42: UNAVAILABLE,
    44: UNAVAILABLE, 47: UNAVAILABLE,
}
# OriginateResponse "Reason" values (Asterisk's AST_CONTROL_*): 3 ringing (timed out), 4 answered,
# 5 busy, 8 congestion; 0 and 1 say nothing more than "failed".
_REASONS = {3: NO_ANSWER, 4: ANSWERED, 5: BUSY, 8: UNAVAILABLE}


def outcome_for(answered: bool, cause: int | None, reason: int | None) -> str:
    """Classify one attempt.

    >>> outcome_for(False, 17, 5)
    'busy'
    >>> outcome_for(False, 34, 8)
    'unavailable'
    >>> outcome_for(True, 16, 4)
    'answered'
    """
    if answered:
        return ANSWERED
    if cause in _CAUSES:
        return _CAUSES[cause]
    if reason in _REASONS and reason != 4:
        return _REASONS[reason]
    return FAILED


def as_int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
