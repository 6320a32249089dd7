"""The Asterisk side of one call's FastAGI session: connect to the controller the Originate's
``SC_AGI`` names, send the request header ``AGI(${SC_AGI}/broadcast,${SC_SOUNDS},${SC_CAMPAIGN})``
sends, and answer the call flow's commands as Asterisk does:

- ``GOSUB``: ``100 result=0 Trying...`` then ``200 result=0 Gosub complete``;
- ``STREAM FILE path digits [offset]``: after the (compressed) playing time, ``200 result=0
  endpos=N`` for a file heard to its end; ``HANGUP`` then ``200 result=-1 endpos=N`` when the
  callee hangs up in it; ``200 result=57 endpos=N`` for the opt-out digit '9';
- ``HANGUP``: ``200 result=1``, then the session closes; ``GET VARIABLE``: ``200 result=0``;
  ``CHANNEL STATUS``: ``200 result=6`` (up); anything after the hangup: ``511``.

The file lengths come from the published prompts themselves (``<path>.wav``, 8 kHz), as
Asterisk's ``endpos`` does.
"""
from __future__ import annotations

import asyncio
import shlex
import wave
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

RATE = 8000
GOSUB_OK = b"100 result=0 Trying...\n200 result=0 Gosub complete\n"
DEAD = b"511 Command Not Permitted on a dead channel or an already closed channel\n"


@lru_cache(maxsize=256)
def samples_of(path: str) -> int | None:
    """The length in samples of the prompt Asterisk would play for *path* (no extension)."""
    try:
        with wave.open(f"{path}.wav", "rb") as w:
            return w.getnframes() * RATE // w.getframerate()
    except (OSError, wave.Error, EOFError):
        return None


@dataclass
class Session:
    """One call's AGI dialogue. *budget_ms*: call ms the callee listens before hanging up
    (None: to the end); *optout*: press the escape digit at that point instead."""

    agi_url: str               # SC_AGI, e.g. agi://127.0.0.1:4573/TOKEN
    channel_id: str
    channel: str
    sounds: str                # SC_SOUNDS (node-wide)
    campaign: str              # SC_CAMPAIGN
    budget_ms: float | None
    optout: bool
    scale: float
    hung_up_by: str = ""       # "callee" | "controller" | "" (closed by the controller)
    commands: int = 0

    def header(self) -> bytes:
        parts = urlsplit(self.agi_url)
        script = f"{parts.path.lstrip('/')}/broadcast".lstrip("/")
        lines = {
            "agi_network": "yes", "agi_network_script": script,
            "agi_request": f"{self.agi_url}/broadcast", "agi_channel": self.channel,
            "agi_language": "en", "agi_type": "PJSIP", "agi_uniqueid": self.channel_id,
            "agi_version": "22.0.0", "agi_callerid": "unknown", "agi_calleridname": "unknown",
            "agi_callingpres": "0", "agi_callingani2": "0", "agi_callington": "0",
            "agi_callingtns": "0", "agi_dnid": "unknown", "agi_rdnis": "unknown",
            "agi_context": "sc-broadcast", "agi_extension": "s", "agi_priority": "4",
            "agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "1",
            "agi_arg_1": self.sounds, "agi_arg_2": self.campaign}
        return ("".join(f"{k}: {v}\n" for k, v in lines.items()) + "\n").encode()

    async def run(self) -> None:
        parts = urlsplit(self.agi_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 4573)
        try:
            writer.write(self.header())
            await writer.drain()
            dead = False
            while True:
                line = await reader.readline()
                if not line:
                    return
                self.commands += 1
                if dead:
                    writer.write(DEAD)
                else:
                    answer, dead = await self._answer(line.decode().strip())
                    writer.write(answer)
                await writer.drain()
                if self.hung_up_by == "controller":
                    return
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _answer(self, command: str) -> tuple[bytes, bool]:
        words = shlex.split(command) if '"' in command else command.split()
        verb = " ".join(words[:2]).upper()
        if verb.startswith("GOSUB"):
            return GOSUB_OK, False
        if verb == "STREAM FILE":
            return await self._stream(words[2:])
        if verb.startswith("HANGUP"):
            self.hung_up_by = "controller"
            return b"200 result=1\n", True
        if verb == "GET VARIABLE":
            return b"200 result=0\n", False
        if verb == "CHANNEL STATUS":
            return b"200 result=6\n", False
        return b"510 Invalid or unknown command\n", False

    async def _stream(self, args: list[str]) -> tuple[bytes, bool]:
        path = args[0] if args else ""
        digits = args[1] if len(args) > 1 else ""
        offset = int(args[2]) if len(args) > 2 and args[2].isdigit() else 0
        length = samples_of(path)
        if length is None:
            # Asterisk: the file cannot be played (it logs a warning); the channel stays up.
            return b"200 result=-1 endpos=0\n", False
        offset = min(offset, length)
        left_ms = (length - offset) * 1000 / RATE
        if self.budget_ms is None or self.budget_ms >= left_ms:
            if self.budget_ms is not None:
                self.budget_ms -= left_ms
            await asyncio.sleep(left_ms / 1000 * self.scale)
            return f"200 result=0 endpos={length}\n".encode(), False
        heard = max(0.0, self.budget_ms)
        await asyncio.sleep(heard / 1000 * self.scale)
        endpos = offset + int(heard * RATE / 1000)
        if self.optout and digits:
            self.budget_ms = None
            self.optout = False
            return f"200 result={ord(digits[0])} endpos={endpos}\n".encode(), False
        self.hung_up_by = "callee"
        return f"HANGUP\n200 result=-1 endpos={endpos}\n".encode(), True
