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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from ..aio import within
from ..ami import AmiClient
from ..asterisk_conf.trunks import endpoint_name
from ..contacts.numbers import masked
from ..dialer.outcomes import as_int, outcome_for
from ..errors import AmiError, ConfigError
from ..files import atomic_writer
from ..nodes import NodeInfo
from .link import ami_link, cli
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


# How long `trunk test` waits for a registration just applied to get its answer.
REGISTRATION_WAIT_S = 10.0


@dataclass(frozen=True)
class TrunkTestPlan:
    """What `trunk test` does, read from the database before any network work."""

    trunk: str
    node: NodeInfo
    qualify: bool
    registers: bool
    dial_prefix: str = ""
    number: str | None = None        # a test call to this number, when given
    prompt: str = ""                 # what the call plays, as Asterisk sees it
    prompt_ms: int = 0
    caller_id: str | None = None
    ring_timeout_s: int = 30


@dataclass(frozen=True)
class ProbeLine:
    """One finding of `trunk test`, e.g. ``ProbeLine("qualify", True, "Avail, RTT 0.7 ms")``."""

    step: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"  {self.step:13} {self.detail}"


@dataclass
class TrunkTestReport:
    """What `trunk test` found; ``ok`` when every line is."""

    trunk: str
    node: str
    lines: list[ProbeLine] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"trunk {self.trunk} on node {self.node}"

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines)


def plan_trunk_test(session: Session, trunk: str, node: str | None = None, *,
                    number: str | None = None, audio: str | None = None,
                    caller_id: str | None = None, ring_timeout_s: int = 30) -> TrunkTestPlan:
    """Choose the node (*node*, else the first enabled one carrying the trunk) and, for a test
    call, publish its prompt there (*audio*, else a 2 s tone).

    Example: ``plan_trunk_test(s, "acme", number="+33612345678")``
    """
    from .nodes import get_node, node_info
    from .trunks import get_trunk
    t = get_trunk(session, trunk)
    carriers = [n for n in t.nodes if n.enabled]
    if node:
        chosen = get_node(session, node)
    elif carriers:
        chosen = carriers[0]
    else:
        raise ConfigError(f"no enabled node carries trunk {t.name}",
                          fix=f"sc-asterisk trunk edit {t.name} --node NODE")
    info = node_info(chosen)
    prompt, prompt_ms = _test_prompt(session, info, audio) if number else ("", 0)
    return TrunkTestPlan(t.name, info, qualify=bool(t.qualify_s), registers=t.register,
                         dial_prefix=t.dial_prefix, number=number, prompt=prompt,
                         prompt_ms=prompt_ms, caller_id=caller_id, ring_timeout_s=ring_timeout_s)


async def test_trunk(plan: TrunkTestPlan, on_line: Callable[[str], None] | None = None, *,
                     link=ami_link, registration_wait_s: float = REGISTRATION_WAIT_S
                     ) -> TrunkTestReport:
    """Qualify the trunk, read its registration and place the plan's test call; *on_line* gets
    each line of the report as soon as it is known (the title first).

    Example: ``report = await test_trunk(plan, print); sys.exit(0 if report.ok else 1)``
    """
    report = TrunkTestReport(plan.trunk, plan.node.name)
    say = on_line or (lambda _text: None)

    def add(step: str, ok: bool, detail: str) -> None:
        report.lines.append(ProbeLine(step, ok, detail))
        say(str(report.lines[-1]))

    async with link(plan.node) as ami:
        say(report.title)
        if plan.qualify:
            q = await qualify(ami, plan.trunk)
            for c in q.contacts:
                rtt = f", RTT {c.rtt_ms:.1f} ms" if c.rtt_ms is not None else ""
                add("qualify", q.reachable, f"{c.status}{rtt} ({c.uri})")
            if not q.contacts:
                add("qualify", q.reachable, "no contact")
        else:
            add("qualify", True, "off for this trunk (--qualify 0)")
        if plan.registers:
            r = await wait_registration(ami, plan.trunk, registration_wait_s)
            state = r.status if r else "not loaded (run trunk apply)"
            if r and r.status not in SETTLED_REGISTRATION:
                state += f" (no answer from the registrar after {registration_wait_s:g} s)"
            exp = f" (expires in {r.expires_s} s)" if r and r.expires_s is not None else ""
            add("registration", r is not None and r.status == "Registered", f"{state}{exp}")
        if plan.number:
            res = await test_call(ami, plan.trunk, plan.number, plan.prompt, plan.prompt_ms,
                                  dial_prefix=plan.dial_prefix, caller_id=plan.caller_id,
                                  ring_timeout_s=plan.ring_timeout_s)
            heard = (f", listened {res.listened_ms} of {res.prompt_ms} ms"
                     if res.listened_ms is not None else "")
            cause = f" (cause {res.cause} {res.cause_txt or ''})".rstrip() if res.cause else ""
            add("test call", res.answered,
                f"{masked(plan.number)} {res.outcome} after {res.ring_ms} ms{heard}{cause}")
    return report


def _test_prompt(session: Session, info: NodeInfo, audio: str | None) -> tuple[str, int]:
    if audio is None:
        return write_test_prompt(info.sounds_dir, info.asterisk_sounds_dir)
    from .. import audio as audio_lib
    asset = audio_lib.get_asset(session, audio)
    audio_lib.publish(asset, info.sounds_dir)
    return audio_lib.asterisk_name(asset, info.asterisk_sounds_dir), asset.duration_ms


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
