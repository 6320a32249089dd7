"""The callee simulator's ground truth: its SIPp log, parsed into one :class:`CallTruth` per call.

``scenarios/callee.xml`` logs one line per event (``SCT|event|epoch_s|us|number|detail|call_id``);
:func:`parse_truth` reads them. :mod:`sc_asterisk.lab.sipp` re-exports both names.
"""
from __future__ import annotations

from dataclasses import dataclass

_TRUTH_TAG = "SCT"


@dataclass
class CallTruth:
    """What one callee saw of one call; times are epoch milliseconds (wall clock).

    ``answer_ms`` is when our 200 OK left, ``ack_ms`` when the caller's ACK came.
    ``end_ms`` is the hang-up (our BYE or the caller's BYE or CANCEL) or the refusal.
    ``hold_ms_measured`` is ``end_ms - answer_ms`` for an answered call. ``ended_by`` is
    'callee' or 'caller'. ``outcome`` is 'answered', 'busy', 'noanswer' (the caller cancelled
    while it rang), 'rejected' or 'unknown' (404: not in the plan); None while the call goes on.
    ``number`` is the dialed number without its leading '+'. A machine or human callee
    starts saying ``audio`` (the capture's name, e.g. 'greeting-machine') at ``audio_ms``.
    """

    number: str
    call_id: str
    invite_ms: float | None = None
    answer_ms: float | None = None
    ack_ms: float | None = None
    end_ms: float | None = None
    ended_by: str | None = None
    outcome: str | None = None
    dtmf: str | None = None
    dtmf_ms: float | None = None
    audio: str | None = None
    audio_ms: float | None = None

    @property
    def hold_ms_measured(self) -> float | None:
        if self.answer_ms is None or self.end_ms is None:
            return None
        return self.end_ms - self.answer_ms


def _epoch_ms(seconds: str, microseconds: str) -> float:
    # SIPp prints its double variables with %lf, and a value of 0 as an empty string.
    return float(seconds or 0) * 1000.0 + float(microseconds or 0) / 1000.0


def parse_truth(text: str) -> list[CallTruth]:
    """Parse the callee scenario's log into one CallTruth per call, in order of INVITE.

    Lines look like ``SCT|event|epoch_s|us|number|detail|call_id``; anything else is skipped.

    Example::

        parse_truth("SCT|invite|1700000000.000000|250000.000000|33199000001|-|abc@h\\n")
        # [CallTruth(number='33199000001', call_id='abc@h', invite_ms=1700000000250.0, ...)]
    """
    calls: list[CallTruth] = []
    by_call_id: dict[str, CallTruth] = {}
    for line in text.splitlines():
        parts = line.split("|", 6)
        if len(parts) != 7 or parts[0] != _TRUTH_TAG:
            continue
        _, event, seconds, micros, number, detail, call_id = parts
        try:
            at = _epoch_ms(seconds, micros)
        except ValueError:
            continue
        call = by_call_id.get(call_id)
        if event == "unexpected":
            continue  # a request the handler answered (INFO, OPTIONS ping): not a call event
        # An INVITE always opens a call: SIPp absorbs retransmissions, so a Call-ID seen again
        # with an INVITE is a new call that reuses it.
        if event == "invite" or call is None:
            call = CallTruth(number=number, call_id=call_id)
            by_call_id[call_id] = call
            calls.append(call)
        _apply(call, event, at, detail)
    return calls


def _apply(call: CallTruth, event: str, at: float, detail: str) -> None:
    if event == "invite":
        call.invite_ms = at
    elif event == "answer":
        call.answer_ms = at
    elif event == "ack":
        call.ack_ms = at
    elif event == "dtmf":
        call.dtmf, call.dtmf_ms = detail, at
    elif event == "audio":
        call.audio, call.audio_ms = detail, at
    elif event == "bye_sent":
        call.end_ms, call.ended_by = at, "callee"
    elif event in ("bye_recv", "cancel"):
        call.end_ms, call.ended_by = at, "caller"
    elif event == "final":
        call.outcome = detail
        if call.end_ms is None:  # a refusal: the callee ends the call with its response
            call.end_ms, call.ended_by = at, "callee"
