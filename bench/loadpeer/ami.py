"""The load peer's AMI server: what a controller's ``AmiClient`` sees of an Asterisk node.

Actions answered: ``Login`` (the node's user and secret), ``Ping``, ``Originate`` (``Async``,
``ChannelId``: the call is then played out by ``Peer._call``), ``CoreShowChannels`` (an event
list of the live channels), ``Logoff``, ``Command`` (empty output); anything else ``Error``.
Events go to every logged-in session, as Asterisk's do, in the filtered set the rendered
manager user receives (``asterisk_conf.render.AMI_EVENTS``), with ``Timestamp`` headers
(``timestampevents = yes``). For one call, in the order Asterisk 22 sends them (recorded in the
lab against SIPp callees):

- answered: ``Newstate Ringing``, ``Newstate Up``, ``OriginateResponse Success`` (reason 4),
  the FastAGI session; then, when the callee hangs up, ``HangupRequest`` (no cause); then
  ``Cdr ANSWERED`` and ``Hangup`` cause 0 "Unknown" (also after the call flow's ``HANGUP``);
- busy: ``HangupRequest`` and ``Hangup`` cause 17, ``OriginateResponse Failure`` reason 0,
  ``Cdr BUSY`` (no ringing);
- no answer: ``Newstate Ringing`` until the Originate's ``Timeout``, ``OriginateResponse
  Failure`` reason 3, ``Hangup`` cause 19, ``Cdr NO ANSWER``.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from .agi import Session
from .calls import CallModel

log = logging.getLogger(__name__)
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def parse_block(block: bytes) -> dict[str, str | list[str]]:
    """One AMI action: ``Key: Value`` lines; a repeated key (``Variable``) gives a list.

    >>> parse_block(b"Action: Ping\\r\\nActionID: 1\\r\\n\\r\\n")
    {'Action': 'Ping', 'ActionID': '1'}
    """
    fields: dict[str, str | list[str]] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in fields:
            old = fields[key]
            fields[key] = (old if isinstance(old, list) else [old]) + [value]
        else:
            fields[key] = value
    return fields


def message(*pairs: tuple[str, object]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


def variables(fields: dict) -> dict[str, str]:
    raw = fields.get("Variable", [])
    out = {}
    for item in raw if isinstance(raw, list) else [raw]:
        name, _, value = item.partition("=")
        out[name] = value
    return out


@dataclass
class Stats:
    originates: int = 0
    answered: int = 0
    not_answered: int = 0
    agi_sessions: int = 0
    agi_failed: int = 0              # the controller's FastAGI server could not be reached
    hung_up_by: Counter = field(default_factory=Counter)
    duplicate_channel_ids: int = 0   # an Originate for a channel id already seen
    duplicate_numbers: int = 0       # an Originate for a number already dialed
    logins: int = 0
    refused_logins: int = 0
    peak_live: int = 0


class Peer:
    """Example::

        peer = Peer(secret="s3cret", sounds="/srv/sounds", model=CallModel())
        await peer.start("127.0.0.1", 15038)
    """

    def __init__(self, secret: str, sounds: str, model: CallModel, user: str = "sc-controller",
                 seed: int = 1, arrivals=None, cdr: bool = True):
        self.user, self.secret, self.sounds, self.model = user, secret, sounds, model
        self.rng = random.Random(seed)
        self.arrivals = arrivals          # a text file: "channel id,arrival epoch ms" per line
        self.cdr = cdr
        self.stats = Stats()
        self.live: dict[str, str] = {}    # channel id -> ChannelStateDesc
        self._seen_ids: set[str] = set()
        self._seen_numbers: set[int] = set()
        self._sessions: set[asyncio.StreamWriter] = set()
        self._calls: set[asyncio.Task] = set()
        self._seq = itertools.count(1)
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        for writer in list(self._sessions):
            writer.close()

    # -- the AMI session ----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        logged_in = False
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields = parse_block(block)
                action = str(fields.get("Action", "")).lower()
                aid = fields.get("ActionID", "")
                if action == "login":
                    logged_in = fields.get("Username") == self.user and \
                        fields.get("Secret") == self.secret
                    if logged_in:
                        self.stats.logins += 1
                        self._sessions.add(writer)
                        writer.write(message(("Response", "Success"), ("ActionID", aid),
                                             ("Message", "Authentication accepted")))
                        writer.write(message(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                             ("Timestamp", _stamp()), ("Status", "Fully Booted")))
                    else:
                        self.stats.refused_logins += 1
                        writer.write(message(("Response", "Error"), ("ActionID", aid),
                                             ("Message", "Authentication failed")))
                elif not logged_in:
                    writer.write(message(("Response", "Error"), ("ActionID", aid),
                                         ("Message", "Missing action in request")))
                elif action == "ping":
                    writer.write(message(("Response", "Success"), ("ActionID", aid),
                                         ("Ping", "Pong"), ("Timestamp", _stamp())))
                elif action == "originate":
                    self._originate(writer, fields)
                elif action == "coreshowchannels":
                    self._show_channels(writer, aid)
                elif action == "command":
                    writer.write(message(("Response", "Success"), ("ActionID", aid),
                                         ("Message", "Command output follows"), ("Output", "")))
                elif action == "logoff":
                    writer.write(message(("Response", "Goodbye"), ("ActionID", aid),
                                         ("Message", "Thanks for all the fish.")))
                    return
                else:
                    writer.write(message(("Response", "Error"), ("ActionID", aid),
                                         ("Message", "Invalid/unknown command")))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._sessions.discard(writer)
            writer.close()

    def _originate(self, writer, fields) -> None:
        aid, channel_id = fields.get("ActionID", ""), fields.get("ChannelId", "")
        arrival_ms = int(time.time() * 1000)
        if not channel_id or str(fields.get("Async", "")).lower() != "true":
            writer.write(message(("Response", "Error"), ("ActionID", aid),
                                 ("Message", "the load peer needs Async and ChannelId")))
            return
        self.stats.originates += 1
        if channel_id in self._seen_ids:
            self.stats.duplicate_channel_ids += 1
        self._seen_ids.add(channel_id)
        number = "".join(c for c in str(fields.get("Channel", "")).partition("@")[0]
                         if c.isdigit())
        if number:
            if int(number) in self._seen_numbers:
                self.stats.duplicate_numbers += 1
            self._seen_numbers.add(int(number))
        if self.arrivals is not None:
            self.arrivals.write(f"{channel_id},{arrival_ms}\n")
        writer.write(message(("Response", "Success"), ("ActionID", aid),
                             ("Message", "Originate successfully queued")))
        timeout = str(fields.get("Timeout", ""))
        task = asyncio.create_task(self._call(aid, channel_id, variables(fields),
                                              str(fields.get("Channel", "")),
                                              int(timeout) if timeout.isdigit() else 30000))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _show_channels(self, writer, aid) -> None:
        writer.write(message(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                             ("Message", "Channels will follow")))
        for channel_id, state in list(self.live.items()):
            writer.write(message(("Event", "CoreShowChannel"), ("ActionID", aid),
                                 ("Channel", f"PJSIP/lab-{channel_id[:8]}"),
                                 ("ChannelState", 6 if state == "Up" else 5),
                                 ("ChannelStateDesc", state), ("Uniqueid", channel_id),
                                 ("Linkedid", channel_id)))
        writer.write(message(("Event", "CoreShowChannelsComplete"), ("ActionID", aid),
                             ("EventList", "Complete"), ("ListItems", len(self.live))))

    def emit(self, *pairs: tuple[str, object]) -> None:
        """An event to every logged-in session (Asterisk broadcasts them)."""
        data = message(pairs[0], ("Privilege", "call,all"), ("Timestamp", _stamp()), *pairs[1:])
        for writer in list(self._sessions):
            if not writer.is_closing():
                writer.write(data)

    # -- one call -----------------------------------------------------------------------------
    async def _call(self, aid: str, channel_id: str, chanvars: dict[str, str], dialed: str,
                    timeout_ms: int) -> None:
        fate = self.model.draw(self.rng)
        channel = f"PJSIP/lab-{next(self._seq):08x}"
        ids = (("Channel", channel), ("Uniqueid", channel_id), ("Linkedid", channel_id))
        self.live[channel_id] = "Ringing"
        self.stats.peak_live = max(self.stats.peak_live, len(self.live))
        started = time.time()
        try:
            if not fate.answered:
                self.stats.not_answered += 1
                await self._not_answered(aid, channel_id, dialed, ids, fate, timeout_ms, started)
                return
            self.emit(("Event", "Newstate"), *ids, ("ChannelState", 5),
                      ("ChannelStateDesc", "Ringing"))
            await asyncio.sleep(self.model.wall(min(fate.ring_s, timeout_ms / 1000)))
            self.stats.answered += 1
            self.live[channel_id] = "Up"
            answered = time.time()
            self.emit(("Event", "Newstate"), *ids, ("ChannelState", 6), ("ChannelStateDesc", "Up"))
            self.emit(("Event", "OriginateResponse"), ("ActionID", aid), ("Response", "Success"),
                      ("Channel", channel), ("Context", "sc-broadcast"), ("Exten", "s"),
                      ("Reason", 4), ("Uniqueid", channel_id))
            budget = None if fate.listen_fraction >= 1.0 else \
                fate.listen_fraction * self._script_ms(chanvars)
            session = Session(chanvars.get("SC_AGI", ""), channel_id, channel, self.sounds,
                              chanvars.get("SC_CAMPAIGN", ""), budget, fate.opts_out,
                              self.model.time_scale)
            try:
                self.stats.agi_sessions += 1
                await session.run()
            except (OSError, ValueError):
                self.stats.agi_failed += 1
            self.stats.hung_up_by[session.hung_up_by or "closed"] += 1
            if session.hung_up_by == "callee":
                self.emit(("Event", "HangupRequest"), *ids, ("ChannelStateDesc", "Up"))
            self._cdr(channel_id, "ANSWERED", started, answered)
            self.emit(("Event", "Hangup"), *ids, ("ChannelStateDesc", "Up"), ("Cause", 0),
                      ("Cause-txt", "Unknown"))
        finally:
            self.live.pop(channel_id, None)

    async def _not_answered(self, aid, channel_id, dialed, ids, fate, timeout_ms, started
                            ) -> None:
        cause, text, reason = fate.cause
        failure = (("Event", "OriginateResponse"), ("ActionID", aid), ("Response", "Failure"),
                   ("Channel", dialed), ("Context", "sc-broadcast"), ("Exten", "s"),
                   ("Reason", reason), ("Uniqueid", channel_id))
        if cause == 17:                   # busy: refused at once, no ringing
            await asyncio.sleep(self.model.wall(0.3))
            self.emit(("Event", "HangupRequest"), *ids, ("ChannelStateDesc", "Down"),
                      ("Cause", cause))
            self.emit(("Event", "Hangup"), *ids, ("ChannelStateDesc", "Down"), ("Cause", cause),
                      ("Cause-txt", text))
            self.emit(*failure)
            self._cdr(channel_id, "BUSY", started, None)
            return
        self.emit(("Event", "Newstate"), *ids, ("ChannelState", 5),
                  ("ChannelStateDesc", "Ringing"))
        await asyncio.sleep(self.model.wall(timeout_ms / 1000))   # rings until the Timeout
        self.emit(*failure)
        self.emit(("Event", "Hangup"), *ids, ("ChannelStateDesc", "Ringing"), ("Cause", cause),
                  ("Cause-txt", text))
        self._cdr(channel_id, "NO ANSWER", started, None)

    def _cdr(self, channel_id: str, disposition: str, started: float, answered: float | None
             ) -> None:
        if not self.cdr:
            return
        end = time.time()
        billsec = 0 if answered is None else round((end - answered) / self.model.time_scale)
        self.emit(("Event", "Cdr"), ("AccountCode", ""), ("Source", ""), ("Destination", "s"),
                  ("DestinationContext", "sc-broadcast"), ("UniqueID", channel_id),
                  ("Disposition", disposition), ("BillableSeconds", billsec),
                  ("Duration", round((end - started) / self.model.time_scale)))

    @staticmethod
    def _script_ms(chanvars: dict[str, str]) -> float:
        from .agi import RATE, samples_of
        files = [f for f in chanvars.get("SC_SCRIPT", "").split("&") if f]
        return sum((samples_of(f) or 0) for f in files) * 1000 / RATE


def _stamp() -> str:
    return f"{time.time():.6f}"
