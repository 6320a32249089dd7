"""Is an inbound SMS the French ``STOP`` opt-out? A pure function, no I/O.

The rule: the message's first word is ``STOP`` (or ``STOPSMS``), whatever its case, accents,
width or the punctuation, spaces and emoji around it. So ``STOP``, ``STOP SMS``, `` Stop ! ``,
``stop.``, ``STÖP``, ``Stop merci``, ``🛑 STOP`` and ``ＳＴＯＰ`` all opt out; ``Stopper``,
``non stop``, ``S T O P`` and ``ARRÊT`` do not. When in doubt about a message that starts with
STOP we suppress: a wrongly suppressed number gets no more messages, a missed STOP is a breach.
"""
from __future__ import annotations

import re
import unicodedata

STOP_WORDS = frozenset({"stop", "stopsms"})
_WORD = re.compile(r"[^\W_]+")


def is_stop(text: str | None) -> bool:
    """Example: ``is_stop(" Stop SMS ! ") and not is_stop("Stopper")``"""
    words = _WORD.findall(fold(text or ""))
    return bool(words) and words[0] in STOP_WORDS


def fold(text: str) -> str:
    """Compatibility-decomposed, without combining marks, case-folded.

    Example: ``fold("ＳＴÖＰ") == "stop"``
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
