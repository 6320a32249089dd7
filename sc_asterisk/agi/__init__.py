"""FastAGI room: wire format and an asyncio server. Knows nothing of campaigns or the database."""
from .auth import AgiGate, agi_url, derive_token, resolve_peers
from .protocol import AgiProtocolError, AgiResult, parse_result
from .server import AgiHangup, AgiServer, AgiSession

__all__ = ["AgiGate", "AgiHangup", "AgiProtocolError", "AgiResult", "AgiServer", "AgiSession",
           "agi_url", "derive_token", "parse_result", "resolve_peers"]
