"""FastAGI room: wire format and an asyncio server. Knows nothing of campaigns or the database."""
from .protocol import AgiProtocolError, AgiResult, parse_result
from .server import AgiHangup, AgiServer, AgiSession

__all__ = ["AgiHangup", "AgiProtocolError", "AgiResult", "AgiServer", "AgiSession", "parse_result"]
