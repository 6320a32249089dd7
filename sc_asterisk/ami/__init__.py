"""AMI room: the link to one Asterisk node. Knows nothing of campaigns or the database."""
from .client import AmiClient, AmiRefused
from .events import ChannelState, Hangup, HangupRequest, OriginateResult

__all__ = ["AmiClient", "AmiRefused", "ChannelState", "Hangup", "HangupRequest",
           "OriginateResult"]
