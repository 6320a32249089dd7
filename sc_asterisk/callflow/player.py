"""Play a script of segments on one AGI session and measure, per segment, how long the callee
listened. Pure call logic: no database, no AMI.

Listened time comes from STREAM FILE's ``endpos`` (samples at 8 kHz), which Asterisk reports
even when the callee hangs up mid-file, so the figure is exact to a 20 ms frame.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ..agi import AgiHangup, AgiSession
from ..audio import ms_to_samples, samples_to_ms

log = logging.getLogger(__name__)

# Why a segment stopped.
END, HANGUP, DTMF, ERROR, NOT_REACHED = "end", "hangup", "dtmf", "error", "not_reached"


@dataclass(frozen=True)
class Segment:
    role: str          # optout-intro | message | notice
    path: str          # as Asterisk sees it, without extension
    length_ms: int


@dataclass(frozen=True)
class Script:
    segments: tuple[Segment, ...]
    optout_digit: str | None = "9"
    optout_confirm: str | None = None   # path of the confirmation prompt
    amd_policy: str | None = None       # play | voicemail | hangup; None: no detection
    voicemail: tuple[Segment, ...] = ()  # what a machine gets under the voicemail policy


@dataclass
class SegmentResult:
    position: int
    role: str
    length_ms: int
    listened_ms: int = 0
    heard_full: bool = False
    stop_reason: str = NOT_REACHED


@dataclass
class PlayResult:
    segments: list[SegmentResult] = field(default_factory=list)
    hung_up_by: str = "system"      # callee | system
    opted_out: bool = False


@dataclass(frozen=True)
class Resume:
    """Where a call flow lost with its controller picks up: segment *index*, *offset_ms* into
    it (what the callee had heard of it when the session was lost)."""

    index: int = 0
    offset_ms: int = 0


OptOutHook = Callable[[], Awaitable[None]]
# Called before each segment plays: (segment index, offset ms it starts at, its path, the
# paths of the segments after it). The broadcast flow leaves them on the channel, so that the
# call can go on without this controller.
SegmentHook = Callable[[int, int, str, tuple[str, ...]], Awaitable[None]]


async def play(session: AgiSession, script: Script, on_optout: OptOutHook | None = None,
               clock: Callable[[], float] = time.monotonic, resume: Resume = Resume(),
               on_segment: SegmentHook | None = None) -> PlayResult:
    """Play every segment in order; stop at hangup, opt-out digit or a playback error. With
    *resume*, the segments before it were heard in full by an earlier session, and its
    segment plays from its offset (listened ms count from the file's start).

    Example::

        result = await play(session, Script((Segment("message", "/srv/x/sc-ab", 20000),)))
        result.segments[0].listened_ms
    """
    result = PlayResult([SegmentResult(i, s.role, s.length_ms) for i, s in enumerate(script.segments)])
    escape = script.optout_digit or ""
    paths = tuple(seg.path for seg in script.segments)
    for seg, out in zip(script.segments, result.segments):
        if out.position < resume.index:
            out.listened_ms, out.heard_full, out.stop_reason = seg.length_ms, True, END
            continue
        offset_ms = min(max(resume.offset_ms, 0), seg.length_ms) \
            if out.position == resume.index else 0
        try:
            if on_segment is not None:     # a hang-up here ends the call like one mid-file
                await on_segment(out.position, offset_ms, seg.path, paths[out.position + 1:])
            started = clock()
            answer = await session.stream_file(seg.path, escape, timeout=seg.length_ms / 1000 + 30,
                                               offset=ms_to_samples(offset_ms))
        except AgiHangup:
            out.stop_reason = HANGUP
            out.listened_ms = offset_ms
            result.hung_up_by = "callee"
            return result
        out.listened_ms = min(samples_to_ms(answer.endpos or 0), seg.length_ms)
        if answer.result == -1:
            # When the callee hangs up, Asterisk sometimes reports the whole file's length as
            # endpos (seen: endpos=240000 for a 30 s file, 9 s after a hang-up): what was heard
            # cannot exceed the time the command took.
            elapsed_ms = int((clock() - started) * 1000)
            out.listened_ms = min(out.listened_ms, offset_ms + elapsed_ms)
        if answer.result == 0:
            out.stop_reason, out.heard_full = END, True
            out.listened_ms = seg.length_ms if answer.endpos is None else out.listened_ms
            continue
        if answer.digit is not None and answer.digit == script.optout_digit:
            out.stop_reason = DTMF
            result.opted_out = True
            if on_optout is not None:
                await on_optout()   # the suppression is stored before the call can end
            if script.optout_confirm:
                try:
                    await session.stream_file(script.optout_confirm, "")
                except AgiHangup:
                    result.hung_up_by = "callee"
                    return result
            return result
        # result=-1: the channel hung up, or the file could not be played.
        if session.hangup_seen or not await _channel_alive(session):
            out.stop_reason = HANGUP
            result.hung_up_by = "callee"
        else:
            log.error("call %s: Asterisk could not play %s", session.uniqueid, seg.path)
            out.stop_reason = ERROR
        return result
    return result


async def _channel_alive(session: AgiSession) -> bool:
    try:
        answer = await session.command("CHANNEL STATUS", timeout=5)
    except (AgiHangup, ConnectionError):
        return False
    return answer.ok and answer.result is not None and answer.result >= 0
