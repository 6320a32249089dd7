"""What the SMPP link is given and what it answers: the route (where and how to bind), an
accepted part, and the errors of a submission."""
from __future__ import annotations

import os
from dataclasses import dataclass

import smpplib.consts as C

from ..errors import ScError


class LinkDown(ScError):
    """No bind to the SMSC right now: nothing was sent."""


class SubmitRefused(ScError):
    """The SMSC refused a part for good. ``status`` is its command_status; ``accepted`` the
    message ids of the parts it took before."""

    def __init__(self, status: int, accepted: list[str]):
        name = C.DESCRIPTIONS.get(status, "unknown status")
        super().__init__(f"the SMSC refused the message: 0x{status:08x} {name}",
                         fix="see the SMSC's documentation of this status")
        self.status, self.accepted = status, accepted


class SubmitUnknown(ScError):
    """A part's answer was lost with the link: it may have been accepted. Never resent."""

    def __init__(self, accepted: list[str]):
        super().__init__("the link dropped before the SMSC answered a submit_sm",
                         fix="treat the message as unknown: do not send it again")
        self.accepted = accepted


@dataclass(frozen=True)
class SmppRoute:
    """Where and how to bind. The password lives in *password_file* (0600), never here.

    Example: ``SmppRoute("acme", "smpp.example.net", 2775, "sc01", secrets / "sms-route-acme")``
    """

    name: str
    host: str
    port: int
    system_id: str
    password_file: str | os.PathLike
    system_type: str = ""
    source: str = ""                 # the sender: digits (international) or a name (≤ 11)
    rate_per_s: float = 10.0
    enquire_link_s: float = 30.0
    response_timeout_s: float = 10.0
    throttle_limit_s: float = 300.0   # a part throttled this long is refused (nothing sent)


@dataclass(frozen=True)
class Submitted:
    """A part the SMSC accepted: the caller's *ref*, its 1-based *part* and the SMSC's id."""

    ref: object
    part: int
    message_id: str
