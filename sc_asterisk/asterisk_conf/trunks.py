"""Render carrier trunks into one PJSIP include file, ``sc-trunks.conf``.

The operator's pjsip.conf includes it (``#tryinclude sc-trunks.conf``). A trunk's endpoint and
AOR are named after the trunk (the dialer dials ``PJSIP/<number>@<trunk>``); its auth,
registration and identify objects are ``<trunk>-auth``, ``<trunk>-reg``, ``<trunk>-identify``.

Every value is validated against a narrow alphabet before anything is rendered: a newline,
``;``, ``[`` or a quote in a value would end the line, start a comment, open a section or be
taken literally by Asterisk. Nothing is escaped; bad input is refused with the field named.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ..errors import ConfigError
from .transports import TLS_TRANSPORT, NetConf, render_tls_transport

TEMPLATES = Path(__file__).with_name("templates") / "trunk"
TRUNKS_FILE = "sc-trunks.conf"
# The first line of every file the project writes into an operator's directory: a file
# without it was not written by us and is never overwritten.
MARKER = "; Rendered by sc-asterisk"

CODECS = ("alaw", "ulaw", "g722", "g729", "gsm", "opus", "ilbc", "speex", "slin", "g726")
TRANSPORTS = ("udp", "tcp", "tls")
CALLER_ID_POLICIES = ("from", "pai", "rpid", "account")
DEFAULT_CONTEXT = "sc-callback"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.+=-]{1,64}$")
# Secrets may use most punctuation, but never what Asterisk's config parser gives meaning to
# (; [ ] and quotes), whitespace, backslash, or '$' (variable syntax in some modules).
_SECRET = re.compile(r"^[A-Za-z0-9!#%&()*+,./:<=>?@^_{|}~-]{1,128}$")
_DIAL_PREFIX = re.compile(r"^[0-9*#+]{0,16}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_-]{1,79}$")


@dataclass(frozen=True)
class TrunkConf:
    """One trunk as Asterisk needs it (the secret in clear: only the renderer sees it).

    Example: ``TrunkConf("carrier", "203.0.113.10", username="acme", secret="s3cret",
    register=True)``
    """

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str | None = None
    secret: str | None = None
    register: bool = False
    match: tuple[str, ...] = ()
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    caller_id_policy: str = "from"
    context: str = DEFAULT_CONTEXT
    qualify_frequency: int = 60
    srtp: bool = False


def endpoint_name(trunk_name: str) -> str:
    """The PJSIP endpoint (and AOR) of a trunk: its name, so that ``PJSIP/NUMBER@TRUNK`` dials
    it. Every other room asks this function rather than assuming. Example: ``"acme"``."""
    return trunk_name


# -- field validators: each returns the normalised value or raises ConfigError -----------------
def check_name(value: str, what: str = "trunk") -> str:
    """A trunk or node name: letters, digits, '-' and '_', at most 40, starting alphanumeric."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(f"bad {what} name {_show(value)}",
                          fix="use letters, digits, '-' and '_' (at most 40, starting with a "
                              "letter or digit)")
    return value


def check_host(value: str, what: str = "host") -> str:
    """An IPv4/IPv6 address or a DNS name. Example: ``check_host("sip.example.net")``."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"empty {what}", fix="give an IP address or a DNS name")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels) \
            or labels[-1].isdigit():
        raise ConfigError(f"bad {what} {_show(value)}",
                          fix="give an IP address or a DNS name (letters, digits, '-' and '.')")
    return name.lower()


def split_host_port(value: str, default_port: int = 5060) -> tuple[str, int]:
    """Parse ``HOST[:PORT]`` (``[v6]:PORT`` for IPv6). Example: ``"10.0.0.1:5080"``."""
    if not isinstance(value, str):
        raise ConfigError("bad host", fix="give HOST or HOST:PORT")
    host, port = value, str(default_port)
    if value.startswith("["):
        inner, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"bad host {_show(value)}", fix="write IPv6 as [2001:db8::1]:5060")
        host, port = inner, rest[1:] or port
    elif value.count(":") == 1:
        host, port = value.split(":")
    return check_host(host), check_port(port)


def check_port(value, what: str = "port") -> int:
    try:
        port = int(str(value), 10)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ConfigError(f"bad {what} {_show(value)}", fix="use a number from 1 to 65535")
    return port


def check_transport(value: str) -> str:
    if value not in TRANSPORTS:
        raise ConfigError(f"unknown transport {_show(value)}", fix="use udp, tcp or tls")
    return value


def check_username(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _USERNAME.fullmatch(value):
        raise ConfigError("bad username",
                          fix="use letters, digits and . _ + = - (at most 64 characters)")
    return value


def check_secret(value: str | None) -> str | None:
    """A SIP or AMI secret. The value is never echoed back in the error."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SECRET.fullmatch(value):
        raise ConfigError("the secret contains a character Asterisk config cannot carry safely",
                          fix="use 1-128 letters, digits or punctuation other than "
                              "; [ ] quotes \\ $ and spaces")
    return value


def check_codecs(value) -> tuple[str, ...]:
    """``"alaw,ulaw"`` or a sequence -> ``("alaw", "ulaw")``; unknown or repeated codecs refused."""
    items = value.split(",") if isinstance(value, str) else list(value)
    codecs = tuple(c.strip().lower() for c in items if isinstance(c, str) and c.strip())
    if not codecs or len(codecs) != len(items):
        raise ConfigError("empty codec list", fix=f"use some of {','.join(CODECS)}")
    for codec in codecs:
        if codec not in CODECS:
            raise ConfigError(f"unknown codec {_show(codec)}",
                              fix=f"use some of {','.join(CODECS)}")
    if len(set(codecs)) != len(codecs):
        raise ConfigError("a codec is listed twice", fix="list each codec once")
    return codecs


def check_match(values) -> tuple[str, ...]:
    """CIDRs or addresses the trunk's inbound calls come from. Example: ``["192.0.2.0/24"]``."""
    out = []
    for value in values or ():
        try:
            out.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError:
            raise ConfigError(f"bad match {_show(value)}",
                              fix="give an address or CIDR, e.g. 192.0.2.0/24") from None
        if not isinstance(value, str) or value.strip() != value:
            raise ConfigError(f"bad match {_show(value)}", fix="remove spaces")
    if len(set(out)) != len(out):
        raise ConfigError("a match network is listed twice", fix="list each network once")
    return tuple(out)


def check_caller_id_policy(value: str) -> str:
    if value not in CALLER_ID_POLICIES:
        raise ConfigError(f"unknown caller-ID policy {_show(value)}",
                          fix="use from, pai, rpid or account")
    return value


def check_dial_prefix(value: str | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not _DIAL_PREFIX.fullmatch(value):
        raise ConfigError(f"bad dial prefix {_show(value)}",
                          fix="use up to 16 of 0-9 * # +")
    return value


def check_context(value: str) -> str:
    if not isinstance(value, str) or not _CONTEXT.fullmatch(value):
        raise ConfigError(f"bad dialplan context {_show(value)}",
                          fix="use letters, digits, '-' and '_'")
    return value


def validate(trunk: TrunkConf) -> TrunkConf:
    """Check every field and return the normalised trunk; raises ConfigError naming the field."""
    username = check_username(trunk.username)
    secret = check_secret(trunk.secret)
    if trunk.register and not username:
        raise ConfigError(f"trunk {trunk.name} registers but has no username",
                          fix="add --username and a secret, or drop --register")
    if secret and not username:
        raise ConfigError(f"trunk {trunk.name} has a secret but no username",
                          fix="add --username (the carrier's account)")
    if username and not secret:
        raise ConfigError(f"trunk {trunk.name} has a username but no secret",
                          fix="give --secret-file FILE (or type it at the prompt)")
    policy = check_caller_id_policy(trunk.caller_id_policy)
    if policy in ("pai", "rpid", "account") and not username:
        raise ConfigError(f"caller-ID policy {policy} needs the trunk's account",
                          fix="add --username, or use --caller-id-policy from")
    if not isinstance(trunk.qualify_frequency, int) or not 0 <= trunk.qualify_frequency <= 3600:
        raise ConfigError("bad qualify frequency", fix="use 0 to 3600 seconds")
    if trunk.srtp and trunk.transport != "tls":
        # SDES puts the SRTP keys in the SDP: over UDP or TCP anyone on the path reads them.
        raise ConfigError(f"trunk {trunk.name}: SRTP (SDES) needs TLS, which carries its keys",
                          fix="add --transport tls (the carrier's TLS port, often 5061)")
    return TrunkConf(name=check_name(trunk.name), host=check_host(trunk.host),
                     port=check_port(trunk.port), transport=check_transport(trunk.transport),
                     username=username, secret=secret, register=bool(trunk.register),
                     match=check_match(trunk.match), codecs=check_codecs(trunk.codecs),
                     caller_id_policy=policy, context=check_context(trunk.context),
                     qualify_frequency=trunk.qualify_frequency, srtp=bool(trunk.srtp))


# -- rendering ----------------------------------------------------------------------------------
def render_trunks(trunks: list[TrunkConf], node: str = "", net: NetConf = NetConf()) -> str:
    """The text of ``sc-trunks.conf`` for *trunks*; raises ConfigError (nothing rendered) on a bad
    value or a duplicate name. When a trunk uses TLS the file also holds the node's TLS
    transport (*net*: certificate, key, NAT), which that trunk's endpoint names.

    Example: ``render_trunks([TrunkConf("acme", "203.0.113.10")], node="paris-1")``
    """
    checked = [validate(t) for t in trunks]
    names = [t.name.lower() for t in checked]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"duplicate trunk name {duplicates[0]}",
                          fix="give each trunk its own name")
    where = f" for node {node}" if node else ""
    head = (f"{MARKER}{where}: carrier trunks. Do not edit: change them with\n"
            "; `sc-asterisk trunk ...` and run `sc-asterisk trunk apply`.\n"
            f"; Included by pjsip.conf: #tryinclude {TRUNKS_FILE}\n")
    tls = render_tls_transport(net, node) if any(t.transport == "tls" for t in checked) else ""
    return head + tls + "".join(_render_one(t) for t in checked)


def _render_one(t: TrunkConf) -> str:
    endpoint = endpoint_name(t.name)
    uri_host = f"[{t.host}]" if ":" in t.host else t.host
    values = {
        "name": t.name, "endpoint": endpoint, "context": t.context, "transport": t.transport,
        "uri_host": uri_host, "port": str(t.port), "codecs": ",".join(t.codecs),
        # Asterisk reads an unescaped ";" as a comment, so the URI parameter is escaped: \;
        "uri_params": "" if t.transport == "udp" else f"\\;transport={t.transport}",
        "register_note": ", registers" if t.register else "",
        "qualify_frequency": str(t.qualify_frequency),
        "username": t.username or "", "secret": t.secret or "",
        "match": ",".join(t.match or (t.host,)),
        "options": _endpoint_options(t, endpoint),
    }
    parts = ["endpoint.conf", "aor.conf"]
    if t.username:
        parts.append("auth.conf")
    if t.register:
        parts.append("registration.conf")
    parts.append("identify.conf")
    text = "".join(Template((TEMPLATES / p).read_text()).substitute(values) for p in parts)
    _assert_structure(text, t)
    return text


def _endpoint_options(t: TrunkConf, endpoint: str) -> str:
    lines = []
    if t.transport == "tls":
        lines += [f"transport = {TLS_TRANSPORT}"]
    if t.srtp:
        lines += ["; SRTP, keys exchanged in the SDP (SDES) over TLS: an unencrypted offer fails.",
                  "media_encryption = sdes", "media_encryption_optimistic = no"]
    if t.username:
        lines += [f"outbound_auth = {endpoint}-auth", f"from_domain = {t.host}"]
    if t.caller_id_policy == "from":
        lines += ["; caller ID: the campaign's number is sent in From.",
                  "send_pai = no", "send_rpid = no"]
    elif t.caller_id_policy in ("pai", "rpid"):
        header = "P-Asserted-Identity" if t.caller_id_policy == "pai" else "Remote-Party-ID"
        lines += [f"; caller ID: From carries the account, the campaign's number goes in {header}.",
                  f"from_user = {t.username}", f"send_{t.caller_id_policy} = yes",
                  "trust_id_outbound = yes"]
    else:
        lines += ["; caller ID: the carrier presents the account's own number.",
                  f"from_user = {t.username}", "send_pai = no", "send_rpid = no"]
    return "\n".join(lines)


def _assert_structure(text: str, t: TrunkConf) -> None:
    # Belt and braces: after validation, every section header must be one of ours.
    for line in text.splitlines():
        if line.startswith("[") and not line.startswith(f"[{endpoint_name(t.name)}"):
            raise ConfigError(f"trunk {t.name} would render an unexpected section",
                              fix="report this as a bug")


def _show(value) -> str:
    """A value fit for an error message: repr'd (so a newline shows as \\n) and truncated."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
