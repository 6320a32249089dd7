"""Asterisk's own record of each call: the Channel Event Log the node writes (cel_custom, one
JSON object per line, ``templates/cel_custom.conf``), read back as facts per call. Pure parsing
and an incremental file reader; knows nothing of campaigns or the database.

What the node logs: ANSWER, HANGUP (its Q.850 cause and who hung up) and the dialplan's user
events: ``sc-segment`` before each segment (index and start, on Asterisk's clock), ``sc-lost``
when the call flow's FastAGI session was lost, ``sc-alone`` when no controller took the call back
and the dialplan began playing the rest itself, ``sc-alone-end`` when it finished the script, ``sc-optout`` when the callee pressed the opt-out digit while the dialplan played
alone (the controller that reads it stores the opt-out). The unique id is the attempt id (the Originate's ChannelId).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

log = logging.getLogger(__name__)

SEGMENT, LOST, ALONE, ALONE_END, OPTOUT = ("sc-segment", "sc-lost", "sc-alone", "sc-alone-end",
                                          "sc-optout")
NORMAL_CLEARING = 16


@dataclass(frozen=True)
class SegmentMark:
    at_ms: int          # when the mark was logged
    index: int          # the segment
    start_ms: int       # when its first sample would have played (its offset taken off)


@dataclass
class CallFacts:
    """What Asterisk logged of one call (epoch ms)."""

    uniqueid: str
    answer_ms: int | None = None
    end_ms: int | None = None
    cause: int | None = None
    ended_by_us: bool | None = None      # our dialplan or call flow hung up (else the far end)
    marks: list[SegmentMark] = field(default_factory=list)
    lost_ms: list[int] = field(default_factory=list)
    alone_ms: int | None = None          # no controller came back: the dialplan played on alone
    alone_end_ms: int | None = None      # ... and finished the script then
    optout_ms: int | None = None         # the callee opted out while the dialplan played alone

    @property
    def flow_lost(self) -> bool:
        """Part of the call went without a call flow: its session was lost, or none answered
        at all, and the dialplan searched for a controller or played on alone."""
        return bool(self.lost_ms) or self.alone_ms is not None or self.optout_ms is not None


# (node name, attempt id) -> what that node logged of the call, or None (no log, no trace)
FactsOf = Callable[[str, str], "CallFacts | None"]


def _ms(value: str) -> int | None:
    try:
        return int(round(float(value) * 1000))
    except (TypeError, ValueError):
        return None


def _extra(value: str) -> dict:
    try:
        extra = json.loads(value) if value else {}
    except ValueError:
        return {}
    return extra if isinstance(extra, dict) else {}


def apply_line(calls: dict[str, CallFacts], line: str) -> str | None:
    """Fold one line of the log into *calls*; a line that is not an event is skipped. Returns
    the call's id when the line logged its end (HANGUP), else None.

    >>> calls = {}
    >>> apply_line(calls, '{"eventenum":"ANSWER","userdeftype":"","eventtime":"1.5",'
    ...                   '"uniqueid":"a1","eventextra":""}')
    >>> calls["a1"].answer_ms
    1500
    """
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("uniqueid"), str):
        return None
    at = _ms(event.get("eventtime"))
    if at is None:
        return None
    facts = calls.setdefault(event["uniqueid"], CallFacts(event["uniqueid"]))
    kind = event.get("eventenum")
    extra = _extra(event.get("eventextra", ""))
    if kind == "ANSWER":
        facts.answer_ms = facts.answer_ms or at
    elif kind == "HANGUP":
        ended = facts.end_ms is None
        facts.end_ms = at
        cause = extra.get("hangupcause")
        facts.cause = cause if isinstance(cause, int) and cause > 0 else NORMAL_CLEARING
        source = str(extra.get("hangupsource", ""))
        facts.ended_by_us = source.startswith("dialplan") or source == ""
        return facts.uniqueid if ended else None
    elif kind == "USER_DEFINED":
        what = event.get("userdeftype")
        text = str(extra.get("extra", ""))
        if what == SEGMENT:
            parts = text.split("|")
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].lstrip("-").isdigit():
                facts.marks.append(SegmentMark(at, int(parts[0]), int(parts[1])))
        elif what == LOST:
            facts.lost_ms.append(at)
        elif what == ALONE:
            facts.alone_ms = facts.alone_ms or at
        elif what == ALONE_END:
            facts.alone_end_ms = at
        elif what == OPTOUT:
            facts.optout_ms = facts.optout_ms or at
    return None


class CelLog:
    """One node's CEL file, read on from where the last read stopped. A file first seen (a
    controller just started, or the file rotated) is read from its last *tail_bytes* only: the
    calls a dead controller left are recent, and a day of calls must not stall reconciliation.

    Memory stays bounded by time, not by the campaign's size: the facts of a call that ended
    normally are dropped *keep_ended_ms* after its end (by the log's own clock: the newest end
    read); those of a call whose call flow was lost on the way (what a successor controller
    needs) after *keep_ms*. Both in log order, so each read costs what it reads.

    Example::

        cel = CelLog("/var/log/asterisk/sc-cel.json")
        facts = cel.facts("0b1c...")       # None: Asterisk logged nothing of that call
    """

    def __init__(self, path: str, keep_ms: int = 6 * 3_600_000,
                 keep_ended_ms: int = 10 * 60_000, tail_bytes: int = 32 * 1024 * 1024):
        self.path, self.keep_ms, self.tail_bytes = path, keep_ms, tail_bytes
        self.keep_ended_ms = keep_ended_ms
        self._offset = 0
        self._inode: int | None = None
        self._calls: dict[str, CallFacts] = {}
        self._newest = 0                                # the newest end read (epoch ms)
        self._ended: deque[tuple[int, str]] = deque()   # (end ms, id), in log order
        self._kept: deque[tuple[int, str]] = deque()    # the same, calls whose flow was lost
        self._lock = threading.Lock()     # read from the database thread and the event loop

    def __len__(self) -> int:
        """How many calls' facts are held."""
        return len(self._calls)

    def facts(self, uniqueid: str) -> CallFacts | None:
        """What the log says of one call so far (a copy), or None: no trace of it."""
        with self._lock:
            self._refresh()
            found = self._calls.get(uniqueid)
            if found is None:
                return None
            return replace(found, marks=list(found.marks), lost_ms=list(found.lost_ms))

    def refresh(self) -> None:
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return                     # not written yet (no call since the node started)
        partial = False
        if st.st_ino != self._inode or st.st_size < self._offset:
            # first seen, rotated or truncated: read it anew, its tail only
            self._inode, self._offset = st.st_ino, max(0, st.st_size - self.tail_bytes)
            partial = self._offset > 0
        if st.st_size == self._offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        if partial:                    # started mid-line: that line is not whole
            cut = data.find(b"\n") + 1
            self._offset, data = self._offset + cut, data[cut:]
        complete = data[: data.rfind(b"\n") + 1]      # a line being written waits
        self._offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            ended = apply_line(self._calls, line)
            if ended is not None:
                end_ms = self._calls[ended].end_ms
                self._ended.append((end_ms, ended))
                self._newest = max(self._newest, end_ms)
        self._prune()

    def _prune(self) -> None:
        while self._ended and self._ended[0][0] < self._newest - self.keep_ended_ms:
            end_ms, uid = self._ended.popleft()
            facts = self._calls.get(uid)
            if facts is not None and facts.flow_lost:
                self._kept.append((end_ms, uid))
            else:
                self._calls.pop(uid, None)
        while self._kept and self._kept[0][0] < self._newest - self.keep_ms:
            self._calls.pop(self._kept.popleft()[1], None)
