"""Parse the text of Asterisk's ``pjsip show ...`` CLI commands (run over AMI ``Command``).

The CLI text is what the engineer sees too, and one short parser per view is simpler than
following PJSIPShow* event lists; these are pure functions tested on recorded Asterisk 22 text.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

_CONTACT = re.compile(r"^\s*Contact:\s+(?P<aor>[^/\s<]+)/(?P<uri>\S+)\s+(?P<hash>[0-9a-f]+)\s+"
                      r"(?P<status>\S+)\s+(?P<rtt>\S+)\s*$")
_REGISTRATION = re.compile(r"^\s*(?P<name>[^/\s<]+)/(?P<uri>\S+)\s+(?P<auth>\S+)\s+"
                           r"(?P<status>[A-Z][A-Za-z ]*?)(?:\s+\(exp\.\s*(?P<exp>-?\d+)s\))?\s*$")
_ENDPOINT = re.compile(r"^\s*Endpoint:\s+(?P<name>[^\s<]+)\s+(?P<state>[A-Z][A-Za-z ]*?)\s+"
                       r"(?P<channels>\d+ of \S+)\s*$")


@dataclass(frozen=True)
class ContactStatus:
    """One contact of an AOR: ``status`` is Avail, Unavail, NonQual (never qualified) or
    Unknown; ``rtt_ms`` is the last OPTIONS round trip (None when there is none)."""

    aor: str
    uri: str
    status: str
    rtt_ms: float | None

    @property
    def settled(self) -> bool:
        return self.status in ("Avail", "Unavail")


@dataclass(frozen=True)
class RegistrationStatus:
    """One outbound registration: ``status`` is Registered, Unregistered, Rejected,
    Stopped... as Asterisk says it; ``expires_s`` when Asterisk shows it."""

    name: str
    server_uri: str
    auth: str
    status: str
    expires_s: int | None


def command_text(output) -> str:
    """AMI ``Command`` output as one string (panoramisk gives a list for several lines)."""
    if isinstance(output, (list, tuple)):
        return "\n".join(str(line) for line in output)
    return str(output or "")


def parse_contacts(text: str) -> list[ContactStatus]:
    """Contacts in ``pjsip show contacts`` / ``pjsip show endpoint X`` output.

    Example::

        parse_contacts("  Contact:  acme/sip:192.0.2.1:5060  7d06fc7915 Avail  0.671")
        # [ContactStatus(aor='acme', uri='sip:192.0.2.1:5060', status='Avail', rtt_ms=0.671)]
    """
    out = []
    for line in text.splitlines():
        m = _CONTACT.match(line)
        if m:
            out.append(ContactStatus(m["aor"], m["uri"], m["status"], _rtt(m["rtt"])))
    return out


def parse_registrations(text: str) -> dict[str, RegistrationStatus]:
    """Outbound registrations in ``pjsip show registrations`` output, by name.

    Example::

        parse_registrations(" acme-reg/sip:192.0.2.1:5060  acme-auth  Registered  (exp. 3587s)")
        # {'acme-reg': RegistrationStatus(..., status='Registered', expires_s=3587)}
    """
    out = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("<", "=", "Objects found")):
            continue
        m = _REGISTRATION.match(line)
        if m:
            exp = int(m["exp"]) if m["exp"] is not None else None
            out[m["name"]] = RegistrationStatus(m["name"], m["uri"], m["auth"], m["status"], exp)
    return out


def parse_endpoint_state(text: str, endpoint: str) -> str | None:
    """The device state of *endpoint* (e.g. ``Not in use``, ``Unavailable``) or None if absent.

    Example: ``parse_endpoint_state(" Endpoint:  acme   Not in use   0 of inf", "acme")``
    """
    for line in text.splitlines():
        m = _ENDPOINT.match(line)
        if m and m["name"] == endpoint:
            return m["state"]
    return None


def _rtt(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value
