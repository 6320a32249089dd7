"""What a callee heard, rebuilt from Asterisk's log (``cel.CallFacts``) when no controller
measured it: each segment's start is logged (``sc-segment``), so the position reached in it is
the time from that start to the next thing logged (the next segment, the loss of the call
flow, the hangup). Precision: ``reconstructed`` (a few ms of logging delay), against the
``measured`` endpos of a live call flow."""
from __future__ import annotations

from ..cel import CallFacts
from .player import DTMF, END, HANGUP, PlayResult, SegmentResult

FRAME_MS = 20      # a position this close to the end is the end (one frame)


def reconstruct(facts: CallFacts, segments: list[tuple[str, int]]) -> PlayResult:
    """*segments*: (role, length ms) of the script in order.

    >>> from sc_asterisk.cel import CallFacts, SegmentMark
    >>> f = CallFacts("a", answer_ms=0, end_ms=5500, marks=[SegmentMark(10, 0, 10),
    ...                                                     SegmentMark(4012, 1, 4012)])
    >>> [s.listened_ms for s in reconstruct(f, [("message", 4000), ("notice", 3000)]).segments]
    [4000, 1488]
    """
    result = PlayResult([SegmentResult(i, role, length) for i, (role, length) in
                         enumerate(segments)])
    stops = sorted([m.at_ms for m in facts.marks] + facts.lost_ms
                   + [t for t in (facts.end_ms, facts.alone_end_ms, facts.optout_ms)
                      if t is not None])
    marks = sorted(facts.marks, key=lambda m: m.at_ms)
    last = max((m.index for m in marks), default=-1)
    for mark in marks:
        if not 0 <= mark.index < len(result.segments):
            continue
        out = result.segments[mark.index]
        window_end = next((t for t in stops if t > mark.at_ms), None)
        if window_end is None:
            continue                  # still playing when the log was read
        reached = min(out.length_ms, max(0, window_end - mark.start_ms))
        out.listened_ms = max(out.listened_ms, reached)
        if mark.index < last or reached >= out.length_ms - FRAME_MS:
            out.listened_ms, out.heard_full = out.length_ms, True
    for out in result.segments:
        if out.position <= last:
            out.stop_reason = END if out.heard_full else HANGUP
    played_all = bool(result.segments) and result.segments[-1].heard_full
    result.hung_up_by = "system" if played_all or facts.ended_by_us else "callee"
    if facts.optout_ms is not None:
        result.opted_out = True
        stopped = [m for m in marks if m.at_ms <= facts.optout_ms
                   and 0 <= m.index < len(result.segments)]
        if stopped and not result.segments[stopped[-1].index].heard_full:
            result.segments[stopped[-1].index].stop_reason = DTMF
    return result
