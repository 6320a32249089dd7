"""Following calls through AMI: one Flight per attempt, fed by the events of the node that
carries it, settled when Asterisk says the channel is gone and the call flow has recorded."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from ..aio import within
from ..ami import AmiClient
from ..callflow.amd import parse_amd
from ..errors import AmiError
from .claim import Claim
from .outcomes import as_int

log = logging.getLogger(__name__)


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
    lost: bool = False            # the node went away while the call was up
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    agi_done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def attempt_id(self) -> str:
        return self.claim.attempt_id


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
        ami.on("OriginateResponse", self._on_originate_response)
        ami.on("Newstate", self._on_newstate)
        ami.on("Hangup", self._on_hangup)

    def agi_started(self, attempt_id: str) -> None:
        flight = self.flights.get(attempt_id)
        if flight is not None:
            self._answered(flight, {})

    def agi_finished(self, attempt_id: str) -> None:
        flight = self.flights.get(attempt_id)
        if flight is not None:
            flight.agi_done.set()

    def _on_originate_response(self, event: dict) -> None:
        action_id = event.get("ActionID", "")
        flight = self.flights.get(action_id[3:]) if action_id.startswith("sc-") else None
        if flight is None:
            return
        flight.reason = as_int(event.get("Reason"))
        if event.get("Response") == "Success":
            self._answered(flight, event)
        flight.responded.set()

    def _on_newstate(self, event: dict) -> None:
        flight = self.flights.get(event.get("Uniqueid", ""))
        if flight is not None and event.get("ChannelStateDesc") == "Up":
            self._answered(flight, event)

    def _answered(self, flight: Flight, event: dict) -> None:
        if flight.answered:
            return
        flight.answered, flight.answer_ms = True, _event_ms(event)
        if self.on_answer is not None:
            self.on_answer(flight.attempt_id, flight.answer_ms)

    def _on_hangup(self, event: dict) -> None:
        flight = self.flights.get(event.get("Uniqueid", ""))
        if flight is None:
            return
        flight.end_ms = _event_ms(event)
        flight.cause, flight.cause_txt = as_int(event.get("Cause")), event.get("Cause-txt")
        flight.hung_up.set()

    async def originate(self, ami: AmiClient, flight: Flight, channel: str, agi_url: str) -> str:
        """Send the Originate once. Returns "originating" (sent and accepted), "failed"
        (Asterisk refused: nothing was dialed), "unknown" (it may have left) or "not_sent"
        (the link was down: nothing left).

        *agi_url* is this controller's FastAGI address as the node reaches it: the call flow
        of a call comes back to the controller that dialed it, even with several controllers.
        """
        claim = flight.claim
        fields = {"Action": "Originate", "ActionID": f"sc-{claim.attempt_id}", "Channel": channel,
                  "Context": "sc-broadcast", "Exten": "s", "Priority": "1",
                  "Timeout": str(claim.ring_timeout_s * 1000), "Async": "true",
                  "ChannelId": claim.attempt_id,
                  "Variable": [f"SC_ATTEMPT={claim.attempt_id}", f"SC_AGI={agi_url}",
                               f"SC_CAMPAIGN={claim.campaign_id}"]}
        amd = parse_amd(claim.amd)
        if amd is not None:
            fields["Variable"] += ["SC_AMD=1", f"SC_AMD_ARGS={amd.args}"]
        if claim.caller_id:
            fields["CallerID"] = claim.caller_id
        self.flights[claim.attempt_id] = flight
        if not ami.connected:
            return "not_sent"           # never left: the attempt goes back to the queue
        try:
            await ami.action(fields)
            return "originating"
        except AmiError as exc:
            refused = "refused" in str(exc)
            log.error("attempt %s: originate %s: %s", claim.attempt_id,
                      "refused" if refused else "fate unknown", exc)
            return "failed" if refused else "unknown"

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

    def node_lost(self, node: str, live_channels: dict[str, str] | None) -> None:
        """After a reconnect (or a failure), settle flights whose channel no longer exists."""
        for flight in list(self.flights.values()):
            if flight.claim.node != node or flight.hung_up.is_set():
                continue
            if live_channels is not None and flight.attempt_id in live_channels:
                continue
            flight.lost = True
            flight.end_ms = flight.end_ms or now_ms()
            flight.responded.set()
            flight.hung_up.set()
            flight.agi_done.set()

    def forget(self, attempt_id: str) -> None:
        self.flights.pop(attempt_id, None)

    def adopt(self, flight: Flight) -> None:
        """Follow a call another controller dialed: its Originate was answered long ago and its
        call flow died with that controller, so only its hangup is awaited."""
        flight.responded.set()
        flight.agi_done.set()
        self.flights[flight.attempt_id] = flight

    def follows_on(self, node: str) -> bool:
        """Whether a call on *node* is being followed."""
        return any(f.claim.node == node for f in self.flights.values())


def _event_ms(event: dict) -> int:
    stamp = event.get("Timestamp")
    try:
        return int(float(stamp) * 1000) if stamp else now_ms()
    except ValueError:
        return now_ms()


async def _wait_all(events: list[asyncio.Event], timeout: float, attempt_id: str) -> None:
    try:
        await within(asyncio.gather(*(e.wait() for e in events)), timeout)
    except asyncio.TimeoutError:
        log.warning("attempt %s did not settle in %.0fs", attempt_id, timeout)
