"""``trunk test``: is a trunk alive on a node, registered, and can it carry a call?

- qualify: AMI ``PJSIPQualify`` sends OPTIONS now; the contact's status and round-trip time are
  then read from ``pjsip show endpoint`` (a trunk with ``--qualify 0`` is never qualified);
- registration: the state of the trunk's outbound registration, when it registers;
- test call (optional): an AMI Originate through the trunk that plays a short prompt with
  ``Playback`` and follows the call through AMI events, like a campaign call: outcome, ring
  time, and how long the callee stayed on the line (capped to the prompt's length). Unlike a
  campaign call it does not go through the FastAGI call flow, so ``listened_ms`` comes from AMI
  event times, not from STREAM FILE's ``endpos``.
"""
from __future__ import annotations

import asyncio
import math
import posixpath
import struct
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

from ..aio import within
from ..ami import AmiClient
from ..asterisk_conf.trunks import endpoint_name
from ..dialer.outcomes import as_int, outcome_for
from ..errors import AmiError, ConfigError
from ..files import atomic_writer
from .link import cli
from .pjsip_status import (ContactStatus, RegistrationStatus, parse_contacts,
                           parse_endpoint_state, parse_registrations)


@dataclass(frozen=True)
class QualifyResult:
    endpoint: str
    state: str | None                 # device state: "Not in use", "Unavailable"...
    contacts: tuple[ContactStatus, ...]

    @property
    def reachable(self) -> bool:
        return any(c.status == "Avail" for c in self.contacts)

    @property
    def rtt_ms(self) -> float | None:
        rtts = [c.rtt_ms for c in self.contacts if c.status == "Avail" and c.rtt_ms is not None]
        return min(rtts) if rtts else None


@dataclass(frozen=True)
class CallResult:
    """What a test call did. Times in ms; ``listened_ms`` is answer -> hangup, capped."""

    number: str
    outcome: str
    ring_ms: int | None
    listened_ms: int | None
    prompt_ms: int
    cause: int | None
    cause_txt: str | None

    @property
    def answered(self) -> bool:
        return self.outcome == "answered"


async def qualify(ami: AmiClient, trunk: str, timeout: float = 4.0) -> QualifyResult:
    """Send OPTIONS to the trunk's contacts now and wait (at most *timeout*) for the result.

    Example: ``(await qualify(ami, "acme")).rtt_ms`` -> ``0.67``
    """
    endpoint = endpoint_name(trunk)
    before = await _endpoint_view(ami, endpoint)
    await ami.action({"Action": "PJSIPQualify", "Endpoint": endpoint})
    deadline = time.monotonic() + timeout
    while True:
        view = await _endpoint_view(ami, endpoint)
        contacts = tuple(parse_contacts(view))
        # A fresh answer changes the status or the RTT; a dead peer stays (or turns) Unavail
        # until qualify_timeout passes, which the deadline covers.
        fresh = contacts and all(c.settled for c in contacts) and contacts != tuple(
            parse_contacts(before))
        if fresh or time.monotonic() >= deadline:
            return QualifyResult(endpoint, parse_endpoint_state(view, endpoint), contacts)
        await asyncio.sleep(0.1)


async def registration(ami: AmiClient, trunk: str) -> RegistrationStatus | None:
    """The trunk's outbound registration state, None when it has none on this node."""
    text = await cli(ami, "pjsip show registrations")
    return parse_registrations(text).get(f"{endpoint_name(trunk)}-reg")


SETTLED_REGISTRATION = ("Registered", "Rejected", "Stopped")


async def wait_registration(ami: AmiClient, trunk: str, timeout: float = 10.0
                            ) -> RegistrationStatus | None:
    """Poll the registration until it settles (Registered, Rejected or Stopped) or *timeout*
    passes; returns the last state. Right after ``trunk apply`` a registration is briefly
    "Unregistered" while its first REGISTER is in flight: that is not an answer yet."""
    deadline = time.monotonic() + timeout
    while True:
        state = await registration(ami, trunk)
        if state is None or state.status in SETTLED_REGISTRATION \
                or time.monotonic() >= deadline:
            return state
        await asyncio.sleep(0.2)


async def test_call(ami: AmiClient, trunk: str, number: str, prompt: str, prompt_ms: int,
                    dial_prefix: str = "", caller_id: str | None = None,
                    ring_timeout_s: int = 30) -> CallResult:
    """Call *number* through *trunk*, play *prompt* (a path without extension, as Asterisk
    sees it) and report what happened.

    Example: ``await test_call(ami, "acme", "+33199000001", "/var/lib/sc/sounds/sc-test", 1500)``
    """
    if not number or not all(ch.isdigit() or ch in "+*#" for ch in number) or len(number) > 32:
        raise ConfigError(f"bad test number {number!r}", fix="give digits with an optional +")
    channel_id = str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    responded, hung_up = loop.create_future(), loop.create_future()
    times: dict[str, float] = {}

    def on_event(event: dict) -> None:
        name = event.get("Event")
        if name == "OriginateResponse" and event.get("ActionID") == f"t-{channel_id}":
            times.setdefault("response", _stamp(event))
            if not responded.done():
                responded.set_result(event)
        elif event.get("Uniqueid") != channel_id:
            return
        elif name == "Newstate" and event.get("ChannelStateDesc") == "Up":
            times.setdefault("answer", _stamp(event))
        elif name == "Hangup" and not hung_up.done():
            times["end"] = _stamp(event)
            hung_up.set_result(event)

    for name in ("OriginateResponse", "Newstate", "Hangup"):
        ami.on(name, on_event)
    fields = {"Action": "Originate", "ActionID": f"t-{channel_id}",
              "Channel": f"PJSIP/{dial_prefix}{number}@{endpoint_name(trunk)}",
              "Application": "Playback", "Data": prompt, "Async": "true",
              "Timeout": str(ring_timeout_s * 1000), "ChannelId": channel_id}
    if caller_id:
        fields["CallerID"] = caller_id
    start = time.time()
    await ami.action(fields)
    try:
        response = await within(responded, ring_timeout_s + 10)
    except asyncio.TimeoutError:
        raise AmiError("the test call got no OriginateResponse in time",
                       fix="check the node's log") from None
    answered = response.get("Response") == "Success"
    hangup: dict = {}
    try:
        hangup = await within(hung_up, prompt_ms / 1000 + 15 if answered else 5)
    except asyncio.TimeoutError:
        pass
    cause = as_int(hangup.get("Cause"))
    answer = times.get("answer") if answered else None
    ring_ms = int(((answer or times.get("response", start)) - start) * 1000)
    listened = None
    if answer is not None and "end" in times:
        listened = max(0, min(prompt_ms, int((times["end"] - answer) * 1000)))
    return CallResult(number=number,
                      outcome=outcome_for(answered, cause, as_int(response.get("Reason"))),
                      ring_ms=ring_ms, listened_ms=listened, prompt_ms=prompt_ms, cause=cause,
                      cause_txt=hangup.get("Cause-txt"))


TEST_PROMPT = "sc-trunk-test"


def write_test_prompt(sounds_dir: str, asterisk_sounds_dir: str, ms: int = 2000) -> tuple[str, int]:
    """Write a 440 Hz tone of *ms* as ``sc-trunk-test.wav`` (8 kHz mono, what Asterisk plays
    without transcoding); returns (the name Asterisk plays it by, its length in ms).

    Example: ``write_test_prompt("/srv/sc/sounds", "/var/lib/asterisk/sounds/sc")``
    """
    rate = 8000
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(rate * ms // 1000))
    directory = Path(sounds_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # 0644: Asterisk runs as its own user
    with atomic_writer(directory / f"{TEST_PROMPT}.wav", 0o644) as out, \
            wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return posixpath.join(asterisk_sounds_dir, TEST_PROMPT), ms


async def _endpoint_view(ami: AmiClient, endpoint: str) -> str:
    try:
        text = await cli(ami, f"pjsip show endpoint {endpoint}")
    except AmiError:
        text = ""
    if "Unable to find object" in text or f"Endpoint:  {endpoint}" not in text:
        raise ConfigError(f"endpoint {endpoint} is not loaded on this node",
                          fix="add the trunk to the node and run: sc-asterisk trunk apply")
    return text


def _stamp(event: dict) -> float:
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return time.time()
