"""The AMI events a dialer follows, as typed values: pure parsing of an event's headers, tested
with plain strings. Whoever follows calls reads these, never raw AMI header names.

A value Asterisk garbled (a missing id, a number that is not one, a header sent twice) gives a
field of None or the first string sent, never an exception: a bad event costs only itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

# The ActionID of an Originate is this prefix and the channel id: the OriginateResponse that
# ends it names the call that way, before the channel may even exist.
ORIGINATE_PREFIX = "sc-"


def originate_action_id(channel_id: str) -> str:
    """The ActionID of the Originate of *channel_id*.

    >>> originate_action_id("att-1")
    'sc-att-1'
    """
    return f"{ORIGINATE_PREFIX}{channel_id}"


@dataclass(frozen=True)
class OriginateResult:
    """How an asynchronous Originate ended: answered, or not (and Asterisk's reason code)."""

    AMI_EVENT = "OriginateResponse"
    channel_id: str
    answered: bool
    reason: int | None      # AST_CONTROL_* (3 rang out, 4 answered, 5 busy, 8 congestion)
    at_ms: int | None       # Asterisk's event time; None when it sent none

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> OriginateResult | None:
        """None unless it answers an Originate sent by ``AmiClient.originate``.

        >>> OriginateResult.parse({"ActionID": "sc-att-1", "Response": "Failure", "Reason": "5"})
        OriginateResult(channel_id='att-1', answered=False, reason=5, at_ms=None)
        """
        action_id = fields.get("ActionID", "")
        channel_id = action_id[len(ORIGINATE_PREFIX):]
        if not action_id.startswith(ORIGINATE_PREFIX) or not channel_id:
            return None
        return cls(channel_id, fields.get("Response") == "Success",
                   _int(fields.get("Reason")), _stamp_ms(fields))


@dataclass(frozen=True)
class ChannelState:
    """A channel changed state (``Newstate``): "Ringing", "Up"..."""

    AMI_EVENT = "Newstate"
    channel_id: str
    state: str
    at_ms: int | None

    @property
    def up(self) -> bool:
        return self.state == "Up"

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> ChannelState | None:
        """None when it names no channel.

        >>> ChannelState.parse({"Uniqueid": "att-1", "ChannelStateDesc": "Up"}).up
        True
        """
        channel_id = fields.get("Uniqueid", "")
        if not channel_id:
            return None
        return cls(channel_id, fields.get("ChannelStateDesc", ""), _stamp_ms(fields))


@dataclass(frozen=True)
class Hangup:
    """A channel is gone, with its Q.850 cause."""

    AMI_EVENT = "Hangup"
    channel_id: str
    cause: int | None
    cause_text: str | None
    at_ms: int | None

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> Hangup | None:
        """None when it names no channel.

        >>> Hangup.parse({"Uniqueid": "att-1", "Cause": "17", "Cause-txt": "User busy"})
        Hangup(channel_id='att-1', cause=17, cause_text='User busy', at_ms=None)
        """
        channel_id = fields.get("Uniqueid", "")
        if not channel_id:
            return None
        return cls(channel_id, _int(fields.get("Cause")), fields.get("Cause-txt"),
                   _stamp_ms(fields))


@dataclass(frozen=True)
class HangupRequest:
    """The channel driver queued the channel's hangup: the far end released it (a SIP BYE),
    with a Q.850 cause when the driver gives one. Asterisk 22 gives none for a callee's BYE,
    and the ``Hangup`` that follows says 0 "Unknown". (``SoftHangupRequest`` is a hangup asked
    by Asterisk itself; its ``Cause`` is a soft-hangup flag, not Q.850.)"""

    AMI_EVENT = "HangupRequest"
    channel_id: str
    cause: int | None

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> HangupRequest | None:
        """None when it names no channel.

        >>> HangupRequest.parse({"Uniqueid": "att-1", "Cause": "16"})
        HangupRequest(channel_id='att-1', cause=16)
        """
        channel_id = fields.get("Uniqueid", "")
        if not channel_id:
            return None
        return cls(channel_id, _int(fields.get("Cause")))


def channel_states(messages: list[Mapping[str, str]]) -> dict[str, str]:
    """The channels a ``CoreShowChannels`` answer lists: channel id -> state.

    >>> channel_states([{"Response": "Success"},
    ...                 {"Event": "CoreShowChannel", "Uniqueid": "att-1", "ChannelStateDesc": "Up"},
    ...                 {"Event": "CoreShowChannelsComplete"}])
    {'att-1': 'Up'}
    """
    return {m.get("Uniqueid", ""): m.get("ChannelStateDesc", "")
            for m in messages if m.get("Event") == "CoreShowChannel"}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _stamp_ms(fields: Mapping[str, str]) -> int | None:
    """``Timestamp`` (epoch seconds, with ``timestampevents``) in ms; None when absent or not
    a finite number."""
    try:
        ms = float(fields.get("Timestamp") or "nan") * 1000
    except ValueError:
        return None
    return int(ms) if math.isfinite(ms) else None
