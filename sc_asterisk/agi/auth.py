"""Who may open a FastAGI session. FastAGI has no authentication of its own and a session can
record what a call heard or an opt-out, so the server admits a session only when

- it comes from one of the nodes' addresses (checked on connect, before a byte is read), and
- its request path starts with this installation's token: ``agi://HOST:PORT/TOKEN/broadcast``.
  The token is HMAC-SHA256(installation key, "fastagi"); the renderer writes it into the node's
  ``SC_AGI`` global and every Originate sends it, so only our nodes know it.

Anything else is closed at once, before any handler runs.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from typing import Iterable

TOKEN_LABEL = b"fastagi"
TOKEN_HEX_DIGITS = 32


def derive_token(installation_key: str) -> str:
    """The installation's FastAGI token: HMAC-SHA256(key, "fastagi"), 32 hex digits. It says
    nothing about the key, and every controller and node of the installation derives the same.

    Example: ``derive_token(settings.secret("installation-key"))`` -> "9c1f...e2" (32 digits)
    """
    if not installation_key:
        raise ValueError("empty installation key")
    return hmac.new(installation_key.encode(), TOKEN_LABEL,
                    hashlib.sha256).hexdigest()[:TOKEN_HEX_DIGITS]


def agi_url(host: str, port: int, token: str) -> str:
    """The ``SC_AGI`` value: the controller's FastAGI address and the token, as one path.

    >>> agi_url("10.0.0.2", 4573, "ab12")
    'agi://10.0.0.2:4573/ab12'
    """
    return f"agi://{host}:{port}/{token}" if token else f"agi://{host}:{port}"


def normal_address(address: str) -> str:
    """One spelling per address: ``::ffff:10.0.0.5`` (a dual-stack socket) is ``10.0.0.5``.

    >>> normal_address("::ffff:127.0.0.1")
    '127.0.0.1'
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


@dataclass(frozen=True)
class AgiGate:
    """The admission rule of one server. ``peers`` None admits any address (``node check``'s
    throw-away listener); ``token`` empty admits any path.

    Example::

        gate = AgiGate(token=derive_token(key), peers=frozenset({"10.0.0.5"}))
        gate.admits_peer("10.0.0.9")                 # False
        gate.script(f"{gate.token}/broadcast?x=1")   # "broadcast"
    """

    token: str = ""
    peers: frozenset[str] | None = None

    def admits_peer(self, address: str | None) -> bool:
        if self.peers is None:
            return True
        try:
            return normal_address(address or "") in self.peers
        except ValueError:
            return False     # a Unix socket or anything that is not an IP address

    def script(self, path: str) -> str | None:
        """The script a request path names once the token is checked (constant time), or
        None when the token is missing or wrong."""
        path = path.split("?", 1)[0].strip("/")
        if not self.token:
            return path
        given, _, script = path.partition("/")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return None
        return script.strip("/")


async def resolve_peers(hosts: Iterable[str]) -> frozenset[str]:
    """Every address the named hosts resolve to (a node named by host name connects from one
    of them). A host that does not resolve adds nothing.

    Example: ``await resolve_peers(["127.0.0.1", "asterisk"])`` -> frozenset({"127.0.0.1", ...})
    """
    loop = asyncio.get_running_loop()
    found: set[str] = set()
    for host in hosts:
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        found.update(normal_address(info[4][0]) for info in infos)
    return frozenset(found)
