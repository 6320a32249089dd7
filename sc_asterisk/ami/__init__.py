"""AMI room: the link to one Asterisk node. Knows nothing of campaigns or the database."""
from .client import AmiClient, AmiRefused
from .events import CallEvent, ChannelState, Hangup, OriginateResult

__all__ = ["AmiClient", "AmiRefused", "CallEvent", "ChannelState", "Hangup", "OriginateResult"]
