"""A small FastAGI server on asyncio streams.

Why not panoramisk's or pyst2's: panoramisk's FastAGI loops forever on a half-open connection
(it keeps reading empty bytes) and drops ``endpos`` when the callee hangs up; pyst2's FastAGI is
written for Python 2 and blocks. Here each connection has its own error boundary: a peer that
sends garbage, a partial header or nothing costs only that connection.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Awaitable, Callable

from ..aio import within
from .auth import AgiGate
from .protocol import (HANGUP_LINE, MAX_HEADER_LINES, MAX_LINE_BYTES, AgiProtocolError, AgiResult,
                       gosub_command, is_continuation, is_final, is_provisional,
                       parse_header_line, parse_result, stream_file_command)

log = logging.getLogger(__name__)

Handler = Callable[["AgiSession"], Awaitable[None]]


class AgiHangup(Exception):
    """The channel is gone: Asterisk closed the connection or refused a command (511)."""


class AgiSession:
    """One FastAGI connection. ``env`` holds the ``agi_*`` request headers.

    Example (inside a handler)::

        result = await session.stream_file("/var/lib/sc-asterisk/sounds/sc-ab12", "9")
        print(result.endpos)
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 env: dict[str, str], command_timeout: float, script: str | None = None,
                 peer: str | None = None):
        self._reader = reader
        self._writer = writer
        self.env = env
        self.command_timeout = command_timeout
        self.hangup_seen = False
        # Asterisk itself said the channel hung up (a HANGUP line or a dead channel's result),
        # unlike a connection that merely closed (that may be a lost session, the call alive).
        self.hangup_told = False
        self.peer = peer         # the address the session came from (a node's)
        # The script the request names, e.g. ``broadcast`` for ``agi://host/TOKEN/broadcast?x=1``
        self.script = script if script is not None else \
            env.get("agi_network_script", "").split("?", 1)[0].strip("/")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def command(self, text: str, timeout: float | None = None) -> AgiResult:
        """Send one command and return its result; raises AgiHangup when the channel is gone."""
        if "\n" in text or "\r" in text:
            raise AgiProtocolError("an AGI command is one line")
        try:
            self._writer.write(text.encode() + b"\n")
            await self._writer.drain()
        except ConnectionError:
            self.hangup_seen = True
            raise AgiHangup("connection reset by Asterisk") from None
        result = await within(self._read_result(), timeout or self.command_timeout)
        if result.dead_channel:
            self.hangup_seen = self.hangup_told = True
            raise AgiHangup(result.text)
        return result

    async def stream_file(self, path: str, escape_digits: str = "", timeout: float | None = None,
                          offset: int = 0) -> AgiResult:
        """``STREAM FILE`` from sample *offset*: the result keeps ``endpos`` (the position in
        the file, offset included) even when the callee hung up mid-file."""
        return await self.command(stream_file_command(path, escape_digits, offset), timeout)

    async def gosub(self, context: str, extension: str, priority: int = 1,
                    args: tuple[str, ...] = (), timeout: float | None = None) -> AgiResult:
        """``GOSUB``: run a dialplan subroutine and wait for its ``Return()``.

        Example: ``await session.gosub("sc-segment", "s", 1, ("0", "0", "/snd/msg", ""))``
        """
        return await self.command(gosub_command(context, extension, priority, args), timeout)

    async def _read_result(self) -> AgiResult:
        while True:
            line = await self._readline()
            if line == HANGUP_LINE:
                # Asterisk announces the hangup; the pending command's own result may follow.
                self.hangup_seen = self.hangup_told = True
                continue
            if is_continuation(line):
                # A "520-" usage block runs until its closing "520 End of proper usage." line.
                usage = [line]
                while not is_final(line):
                    line = await self._readline()
                    usage.append(line)
                return AgiResult(code=int(line[:3]), text=" ".join(usage))
            result = parse_result(line)
            if is_provisional(result):
                # "100 result=0 Trying...": the answer follows, but Asterisk's socket holds
                # it (Nagle) until this line is acknowledged, and Linux delays that ACK by
                # up to 40 ms: dead air between two segments. Acknowledge now.
                self._ack_now()
                continue
            return result

    def _ack_now(self) -> None:
        sock = self._writer.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    async def _readline(self) -> str:
        try:
            raw = await self._reader.readline()
        except ConnectionError:
            self.hangup_seen = True
            raise AgiHangup("connection reset by Asterisk") from None
        if not raw:
            self.hangup_seen = True
            raise AgiHangup("connection closed by Asterisk")
        if len(raw) > MAX_LINE_BYTES:
            raise AgiProtocolError("line too long")
        return raw.decode("utf-8", "replace").rstrip("\r\n")


class AgiServer:
    """Routes FastAGI requests by script name to handlers, with a bound on live sessions.

    Example::

        server = AgiServer({"broadcast": handle_broadcast}, host="127.0.0.1", port=4573)
        await server.start()
    """

    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 max_sessions: int = 500, header_timeout: float = 5.0,
                 command_timeout: float = 30.0, gate: AgiGate | None = None,
                 on_refused: Callable[[str], None] | None = None):
        self.routes = dict(routes)
        # Who may open a session (agi/auth.py); the default admits anyone (tests, node check).
        self.gate = gate or AgiGate()
        self.on_refused = on_refused     # called with "peer" or "token" (a metric)
        self.refused_by: dict[str, int] = {"peer": 0, "token": 0}
        self.host, self.port = host, port
        self.max_sessions = max_sessions
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.active = 0
        self.refused = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    def route(self, name: str, handler: Handler) -> None:
        """Add a route; a name may be routed only once."""
        if name in self.routes:
            raise ValueError(f"AGI route {name!r} is already registered")
        self.routes[name] = handler

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port,
                                                  limit=MAX_LINE_BYTES * 2)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, give live sessions *grace* seconds, then cancel them."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            if not self.gate.admits_peer(peer[0] if isinstance(peer, tuple) else None):
                self._refuse("peer", "not a node's address", peer)
                return
            if self.active >= self.max_sessions:
                self.refused += 1
                log.warning("AGI session refused from %s: %d sessions live (max %d)",
                            peer, self.active, self.max_sessions)
                return
            self.active += 1
            try:
                await self._serve(reader, writer, peer)
            finally:
                self.active -= 1
        finally:
            self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _serve(self, reader, writer, peer) -> None:
        try:
            env = await within(_read_env(reader), self.header_timeout)
        except (asyncio.TimeoutError, AgiProtocolError, ConnectionError, UnicodeDecodeError,
                asyncio.LimitOverrunError, ValueError) as exc:
            log.warning("AGI connection from %s dropped: bad or missing request header (%s)",
                        peer, type(exc).__name__)
            return
        script = self.gate.script(env.get("agi_network_script", ""))
        if script is None:
            self._refuse("token", "no or wrong installation token", peer)
            return
        session = AgiSession(reader, writer, env, self.command_timeout, script,
                             peer[0] if isinstance(peer, tuple) else None)
        handler = self.routes.get(session.script)
        if handler is None:
            log.warning("AGI request for unknown script %r from %s", session.script, peer)
            return
        try:
            await handler(session)
        except AgiHangup:
            log.debug("AGI session %s: channel gone", session.uniqueid)
        except (ConnectionError, asyncio.TimeoutError, AgiProtocolError) as exc:
            log.warning("AGI session %s ended: %s", session.uniqueid, type(exc).__name__)
        except Exception:
            log.exception("AGI handler %r failed for %s", session.script, session.uniqueid)

    def _refuse(self, reason: str, why: str, peer) -> None:
        # Nothing from the request is logged: it may carry a caller's number.
        self.refused_by[reason] += 1
        log.warning("FastAGI session from %s refused: %s (closed, nothing run)",
                    peer[0] if isinstance(peer, tuple) else "?", why)
        if self.on_refused is not None:
            self.on_refused(reason)


async def _read_env(reader: asyncio.StreamReader) -> dict[str, str]:
    env: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        raw = await reader.readline()
        if not raw:
            raise ConnectionError("peer closed during the request header")
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "agi_network_script" not in env and "agi_request" not in env:
                raise AgiProtocolError("request header without agi_request")
            if "agi_network_script" not in env:
                env["agi_network_script"] = env["agi_request"].split("/", 3)[-1] \
                    if env["agi_request"].startswith("agi://") else ""
            return env
        key, value = parse_header_line(line)
        env[key] = value
    raise AgiProtocolError("request header too long")
