"""Following calls through AMI: one Flight per attempt, fed by the events of the node that
carries it, settled when Asterisk says the channel is gone and the call flow has recorded."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import chanvars
from ..aio import within
from ..ami import AmiClient, AmiRefused, ChannelState, Hangup, HangupRequest, OriginateResult
from ..callflow.amd import parse_amd
from ..callflow.player import PlayResult
from ..errors import AmiError
from .claim import Claim

log = logging.getLogger(__name__)

NORMAL_CLEARING = 16      # Q.850: what a release with no other cause is (a SIP BYE)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Flight:
    claim: Claim
    answered: bool = False
    answer_ms: int | None = None
    end_ms: int | None = None
    reason: int | None = None
    cause: int | None = None
    cause_txt: str | None = None
    lost: bool = False            # its channel vanished while the link was down (end unseen)
    end_seen: bool = False        # Asterisk said how it ended (OriginateResponse or Hangup)
    request_cause: int | None = None   # Q.850 cause of the far end's release (HangupRequest)
    connection: int = 0           # the AMI link (AmiClient.connections) its Originate went out on
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    agi_done: asyncio.Event = field(default_factory=asyncio.Event)
    # One call flow session of this controller played the call from start to end: what was
    # heard is measured, Asterisk's log has nothing to add (it is not read for it then).
    flow_whole: bool = False
    # What the call flow measured, handed over to be written with the call's end (one
    # transaction); refused once the end is being written (``ending``): the flow writes it.
    play: PlayResult | None = None
    ending: bool = False

    @property
    def attempt_id(self) -> str:
        return self.claim.attempt_id

    @property
    def fate_unknown(self) -> bool:
        """Never answered, and how it ended went unseen (the AMI link was down then): it may
        have rung, so it is ``unknown``, never retried, never ``failed``."""
        return not self.answered and (self.lost or not self.end_seen)


class CallTracker:
    """Routes AMI events of every node to the flights they concern.

    Example::

        tracker = CallTracker()
        tracker.watch(ami)
        state = await tracker.originate(ami, claim)   # "originating", "failed" or "unknown"
    """

    def __init__(self, on_answer: Callable[[str, int], None] | None = None):
        self.flights: dict[str, Flight] = {}
        self.on_answer = on_answer   # persists the answer, so a successor controller knows it

    def watch(self, ami: AmiClient) -> None:
        ami.subscribe(OriginateResult, self._on_originate_result)
        ami.subscribe(ChannelState, self._on_channel_state)
        ami.subscribe(Hangup, self._on_hangup)
        ami.subscribe(HangupRequest, self._on_hangup_request)

    def agi_started(self, attempt_id: str) -> None:
        flight = self.flights.get(attempt_id)
        if flight is not None:
            self._answered(flight, None)

    def seen_up(self, attempt_id: str) -> None:
        """The node lists the call's channel Up: it was answered (an adopted call answered
        before this controller followed it, its event gone to no one)."""
        flight = self.flights.get(attempt_id)
        if flight is not None:
            self._answered(flight, None)

    def take_play(self, attempt_id: str, result: PlayResult) -> bool:
        """Take what the call flow measured of a call followed here, to be written with its
        end (``finish_attempt``); False when no such call is followed or its end is already
        being written: the call flow then writes it itself.

        Example: ``CallStore(worker, hand_over=tracker.take_play)``
        """
        flight = self.flights.get(attempt_id)
        if flight is None or flight.ending:
            return False
        flight.play = result
        return True

    def agi_finished(self, attempt_id: str, whole: bool = False) -> None:
        """The call flow's session ended; *whole*: it played the call from start to end."""
        flight = self.flights.get(attempt_id)
        if flight is not None:
            flight.flow_whole = flight.flow_whole or whole
            flight.agi_done.set()

    def _on_originate_result(self, result: OriginateResult) -> None:
        flight = self.flights.get(result.channel_id)
        if flight is None:
            return
        flight.reason = result.reason
        flight.end_seen = flight.end_seen or not result.answered
        if result.answered:
            self._answered(flight, result.at_ms)
        flight.responded.set()

    def _on_channel_state(self, change: ChannelState) -> None:
        flight = self.flights.get(change.channel_id)
        if flight is not None and change.up:
            self._answered(flight, change.at_ms)

    def _answered(self, flight: Flight, at_ms: int | None) -> None:
        if flight.answered:
            return
        flight.answered, flight.answer_ms = True, _event_ms(at_ms)
        if self.on_answer is not None:
            self.on_answer(flight.attempt_id, flight.answer_ms)

    def _on_hangup(self, hangup: Hangup) -> None:
        flight = self.flights.get(hangup.channel_id)
        if flight is None:
            return
        flight.end_ms = _event_ms(hangup.at_ms)
        flight.cause, flight.cause_txt = hangup.cause, hangup.cause_text
        if not flight.cause and flight.request_cause:
            # Asterisk 22 says 0 "Unknown" in the Hangup of an answered channel the far end
            # released (the callee's BYE): its HangupRequest's cause is the real one; reports
            # word it from the code.
            flight.cause, flight.cause_txt = flight.request_cause, None
        flight.end_seen = True
        flight.hung_up.set()

    def _on_hangup_request(self, request: HangupRequest) -> None:
        """The channel driver reports the far end's release (a SoftHangupRequest is ours or
        the dialplan's, and its Cause is a flag, not Q.850). Asterisk 22 sends no Cause for a
        BYE: a release with no cause is normal clearing."""
        flight = self.flights.get(request.channel_id)
        if flight is not None and flight.request_cause is None:
            flight.request_cause = request.cause or NORMAL_CLEARING

    async def originate(self, ami: AmiClient, flight: Flight, channel: str, agi_url: str) -> str:
        """Send the Originate once. Returns "originating" (sent and accepted), "failed"
        (Asterisk refused: nothing was dialed), "unknown" (it may have left) or "not_sent"
        (the link was down: nothing left).

        *agi_url* is this controller's FastAGI address as the node reaches it: the call flow
        of a call comes back to the controller that dialed it, even with several controllers.
        """
        claim = flight.claim
        variables = {chanvars.SC_AGI: agi_url,
                     chanvars.SC_CAMPAIGN: claim.script_key or str(claim.campaign_id),
                     **dict(claim.fallback)}
        amd = parse_amd(claim.amd)
        if amd is not None:
            variables |= {chanvars.SC_AMD: "1", **amd_variables(amd.args)}
        self.flights[claim.attempt_id] = flight
        flight.connection = ami.connections
        if not ami.connected:
            return "not_sent"           # never left: the attempt goes back to the queue
        try:
            await ami.originate(channel=channel, channel_id=claim.attempt_id,
                                context="sc-broadcast", exten="s",
                                timeout_ms=claim.ring_timeout_s * 1000,
                                caller_id=claim.caller_id, variables=variables)
            return "originating"
        except AmiRefused as exc:
            log.error("attempt %s: originate refused: %s", claim.attempt_id, exc)
            return "failed"
        except AmiError as exc:
            log.error("attempt %s: originate fate unknown: %s", claim.attempt_id, exc)
            return "unknown"

    async def follow(self, flight: Flight) -> None:
        """Wait until the call is over: hung up, and recorded by the call flow if answered."""
        ring_s = flight.claim.ring_timeout_s + 15
        try:
            await within(flight.responded.wait(), ring_s)
        except asyncio.TimeoutError:
            log.warning("attempt %s: no OriginateResponse in %ss", flight.attempt_id, ring_s)
        if flight.answered:
            limit = flight.claim.script_ms / 1000 + 60
            await _wait_all([flight.hung_up], limit, flight.attempt_id)
            # The call flow writes its measurements as the call ends; keep the channel slot
            # until it has, but not forever (another controller may have served it).
            await _wait_all([flight.agi_done], 5.0, flight.attempt_id)
        else:
            await _wait_all([flight.hung_up], 5.0, flight.attempt_id)

    def node_lost(self, node: str, live_channels: dict[str, str], before: int) -> None:
        """After a reconnect: the flights on *node* sent over a link older than connection
        *before* whose channel is not in *live_channels* (a successful CoreShowChannels) ended
        while the link was down. Calls sent since are followed by their own events."""
        for flight in self._sent_before(node, before):
            if flight.attempt_id not in live_channels:
                self.gone(flight)

    def gone(self, flight: Flight) -> None:
        """Asterisk says the channel no longer exists, but its end went unseen."""
        flight.lost = True
        flight.end_ms = flight.end_ms or now_ms()
        flight.responded.set()
        flight.hung_up.set()
        flight.agi_done.set()

    def _sent_before(self, node: str, before: int) -> list[Flight]:
        return [f for f in self.flights.values() if f.claim.node == node
                and not f.hung_up.is_set() and f.connection < before]

    def forget(self, attempt_id: str) -> None:
        self.flights.pop(attempt_id, None)

    def adopt(self, flight: Flight) -> None:
        """Follow a call another controller dialed: its Originate was answered long ago and its
        call flow died with that controller, so only its hangup is awaited."""
        flight.responded.set()
        flight.agi_done.set()
        self.flights[flight.attempt_id] = flight

    def follows_on(self, node: str, before: int | None = None) -> bool:
        """Whether a call on *node* is being followed (with *before*: one not hung up, sent
        over a link older than that connection)."""
        if before is not None:
            return bool(self._sent_before(node, before))
        return any(f.claim.node == node for f in self.flights.values())


def amd_variables(args: str) -> dict[str, str]:
    """AMD()'s comma-separated arguments as one channel variable each, for the Originate
    (Asterisk splits a ``Variable:`` value on commas); an empty one is left unset: amd.conf's.

    >>> amd_variables("2500,,800")
    {'SC_AMD_ARG1': '2500', 'SC_AMD_ARG3': '800'}
    """
    return {name: value for name, value in zip(chanvars.AMD_ARGS, args.split(",")) if value}


def _event_ms(at_ms: int | None) -> int:
    """When Asterisk says it happened, or now when it did not say."""
    return now_ms() if at_ms is None else at_ms


async def _wait_all(events: list[asyncio.Event], timeout: float, attempt_id: str) -> None:
    try:
        await within(asyncio.gather(*(e.wait() for e in events)), timeout)
    except asyncio.TimeoutError:
        log.warning("attempt %s did not settle in %.0fs", attempt_id, timeout)
