"""Q.850 hangup cause texts, worded as Asterisk words them (``Cause-txt``), for records that
carry only the code."""
from __future__ import annotations

_TEXT = {
    0: "Not Defined",
    1: "Unallocated (unassigned) number",
    2: "No route to specified transmit network",
    3: "No route to destination",
    6: "Channel unacceptable",
    7: "Call awarded and being delivered in an established channel",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    22: "Number changed",
    27: "Destination out of order",
    28: "Invalid number format",
    29: "Facility rejected",
    30: "Response to STATus ENQuiry",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    43: "Access information discarded",
    44: "Requested channel not available",
    47: "Resource unavailable, unspecified",
    50: "Requested facility not subscribed",
    57: "Bearer capability not authorized",
    58: "Bearer capability not presently available",
    65: "Bearer capability not implemented",
    66: "Channel type not implemented",
    69: "Requested facility not implemented",
    81: "Invalid call reference value",
    88: "Incompatible destination",
    95: "Invalid message unspecified",
    96: "Mandatory information element is missing",
    97: "Message type nonexist.",
    98: "Wrong message",
    99: "Info. element nonexist or not implemented",
    100: "Invalid information element contents",
    101: "Message not compatible with call state",
    102: "Recover on timer expiry",
    103: "Mandatory IE length error",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}


def cause_text(code: int | None, recorded: str | None = None) -> str | None:
    """The text Asterisk reported, else the standard one for *code*, else None.

    Example: ``cause_text(17) == "User busy"``; ``cause_text(16, "Normal Clearing")``
    """
    if recorded:
        return recorded
    return _TEXT.get(code) if code is not None else None
