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


_TRANSPORT = re.compile(r"^\s*Transport:\s+(?P<name>[^\s<]+)\s+(?P<type>[a-z]+)\s")
_PARAMETER = re.compile(r"^\s(?P<name>[a-z_0-9]+)\s+:\s?(?P<value>.*?)\s*$")


def parse_transports(text) -> list[str]:
    """Transport names from ``pjsip show transports``. Example: ``["transport-udp"]``."""
    return [m["name"] for line in command_text(text).splitlines()
            if (m := _TRANSPORT.match(line))]


def parse_parameters(text) -> dict[str, list[str]]:
    """``ParameterName : ParameterValue`` lines of ``pjsip show transport NAME`` (or of an
    endpoint): every value of a name, in order. Example: ``params["external_media_address"]``."""
    params: dict[str, list[str]] = {}
    for line in command_text(text).splitlines():
        m = _PARAMETER.match(line)
        if m and m["name"] != "parametername":
            params.setdefault(m["name"], []).append(m["value"])
    return params


def nat_mismatches(transports: dict[str, dict[str, list[str]]], public: str | None
                   ) -> list[str]:
    """What differs between each transport's external addresses (as Asterisk runs them) and
    the node's public address (None: the node says it is not behind NAT).

    Example: ``nat_mismatches({"transport-udp": params}, "198.51.100.7")`` ->
    ``["transport-udp has no external address"]``
    """
    problems = []
    for name, params in transports.items():
        got = {key: (params.get(key) or [""])[0] for key in
               ("external_signaling_address", "external_media_address")}
        if public is None:
            extra = sorted({v for v in got.values() if v})
            if extra:
                problems.append(f"{name} has external address {', '.join(extra)}, the node "
                                "has no public address")
        elif not any(got.values()):
            problems.append(f"{name} has no external address")
        elif set(got.values()) != {public}:
            problems.append(f"{name} has external address "
                            f"{'/'.join(sorted(set(got.values())))}, the node says {public}")
    return problems
