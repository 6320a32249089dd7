"""Render the Asterisk configuration of one node: the same renderer for the lab and production,
so what the tests run is what is shipped."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from ..agi.auth import agi_url
from ..errors import ConfigError
from ..files import atomic_write
from ..paths import DIALPLAN_DIR
from .transports import NetConf, check_local_nets, check_public_address, nat_lines

TEMPLATES = Path(__file__).with_name("templates")

# Exactly the manager classes the controller uses (see manager.conf template comments).
AMI_READ_CLASSES = ("call", "cdr", "system")
AMI_WRITE_CLASSES = ("call", "command", "originate", "reporting", "system")
# ... and of those classes' events, exactly the ones it reads: Asterisk drops the others before
# they are formatted and sent (a call makes dozens: Newchannel, VarSet, NewExten, AGIExec...).
# Action responses (CoreShowChannel lists, Ping) are not events and are never filtered.
# OriginateResponse, Newstate, Hangup, HangupRequest: a call's fate (dialer/calls.py);
# FullyBooted, Shutdown: the link's; Cdr: the benchmarks' baseline (bench/labkit.py).
AMI_EVENTS = ("OriginateResponse", "Newstate", "Hangup", "HangupRequest", "FullyBooted",
              "Shutdown", "Cdr")

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:@/+,=-]*$")


@dataclass(frozen=True)
class SipEndpoint:
    """A SIP peer the node dials or accepts (lab callees, a carrier trunk)."""

    name: str
    contact: str
    match: str
    context: str = "sc-callback"
    codecs: str = "alaw,ulaw"
    comment: str = "SIP peer"
    media_address: str = "127.0.0.1"


@dataclass(frozen=True)
class NodeConfig:
    """Everything that differs between nodes. Paths are as Asterisk sees them."""

    node: str
    etc_dir: str
    run_dir: str
    log_dir: str
    lib_dir: str
    spool_dir: str
    ami_secret: str
    mod_dir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    data_dir: str = "/usr/share/asterisk"
    ami_bind: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "sc-controller"
    ami_permit: str = "127.0.0.1/255.255.255.255"
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    sip_transport: str = "udp"
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # The installation's FastAGI token (agi.derive_token): part of SC_AGI, without which the
    # controller refuses the session. Required: see installation_agi_token().
    agi_token: str = ""
    # The installation's other controllers ("host:port" as the node reaches them): a call whose
    # controller is lost mid-call is resumed by the first that answers (SC_AGI_ALL).
    agi_fallbacks: tuple[str, ...] = ()
    # How long the dialplan looks for a controller before it plays the rest of the script.
    resume_ms: int = 3000
    sounds_dir: str = "/var/lib/sc-asterisk/sounds"
    rtp_start: int = 10000
    rtp_end: int = 10999
    cdr_events: bool = True
    endpoints: tuple[SipEndpoint, ...] = field(default_factory=tuple)
    # Behind NAT: what carriers see (external_*_address) and what is reached directly.
    public_address: str | None = None
    local_nets: tuple[str, ...] = ()

    def net(self) -> NetConf:
        return NetConf(public_address=check_public_address(self.public_address),
                       local_nets=check_local_nets(self.local_nets))


def render(cfg: NodeConfig) -> dict[str, str]:
    """Return ``{file name: text}`` for the node. Raises ConfigError on an unsafe value.

    Example: ``render(NodeConfig(node="n1", etc_dir="/etc/asterisk", ...))["manager.conf"]``
    """
    values = _values(cfg)
    values["endpoints"] = "".join(_render_endpoint(e) for e in cfg.endpoints)
    values.update({name: text.rstrip("\n") for name, text in render_parts(cfg).items()})
    files = {path.name: Template(path.read_text()).substitute(values)
             for path in sorted(TEMPLATES.glob("*.conf")) if path.name != "endpoint.conf"}
    files["sc-dialplan.conf"] = (DIALPLAN_DIR / "sc-dialplan.conf").read_text()
    return files


def render_parts(cfg: NodeConfig) -> dict[str, str]:
    """The pieces an existing Asterisk includes (``manager_user``: the controller's manager
    section; ``globals``: the dialplan globals), exactly as the full files embed them.

    Example: ``render_parts(cfg)["manager_user"]`` -> ``"[sc-controller]\\nsecret = ..."``
    """
    values = _values(cfg)
    return {path.stem: Template(path.read_text()).substitute(values)
            for path in sorted((TEMPLATES / "parts").glob("*.conf"))}


def _values(cfg: NodeConfig) -> dict[str, str]:
    if not cfg.agi_token:
        raise ConfigError(f"no FastAGI token for node {cfg.node}",
                          fix="render with the installation's token (sc-asterisk asterisk "
                              "render derives it from the installation key)")
    values = {k: str(v) for k, v in vars(cfg).items()
              if k not in ("endpoints", "agi_fallbacks", "public_address", "local_nets")}
    values["cdr_events"] = "yes" if cfg.cdr_events else "no"
    values["ami_read"] = ",".join(AMI_READ_CLASSES)
    values["ami_write"] = ",".join(AMI_WRITE_CLASSES)
    for key, value in values.items():
        _check(key, value)
    values["agi_all"] = "&".join(_agi_all(cfg))
    values["ami_events"] = "\n".join(f"eventfilter(action(include),name({name})) ="
                                      for name in AMI_EVENTS)
    values["transport_nat"] = "\n".join(nat_lines(cfg.net()))
    return values


def _agi_all(cfg: NodeConfig) -> list[str]:
    """Every controller's FastAGI URL, this node's own first, each with the token."""
    urls = [agi_url(cfg.agi_host, cfg.agi_port, cfg.agi_token)]
    for address in cfg.agi_fallbacks:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isascii() or not port.isdigit() \
                or not 0 < int(port) < 65536:
            raise ConfigError(f"bad controller address {address!r}",
                              fix="give each other controller as HOST:PORT (its FastAGI port)")
        _check("agi_fallbacks", host)
        url = agi_url(host, int(port), cfg.agi_token)
        if url not in urls:
            urls.append(url)
    return urls


def write(cfg: NodeConfig, out_dir: Path) -> list[Path]:
    """Render into *out_dir* (created, files written atomically, mode 0640: the AMI secret)."""
    files = render(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = out_dir / name
        atomic_write(target, text, 0o640)
        written.append(target)
    return written


def _render_endpoint(e: SipEndpoint) -> str:
    values = {k: str(v) for k, v in vars(e).items()}
    for key, value in values.items():
        if key != "comment":
            _check(f"endpoint.{key}", value)
    values["comment"] = re.sub(r"[\r\n;\[\]]", " ", values["comment"])
    return Template((TEMPLATES / "endpoint.conf").read_text()).substitute(values)


def _check(key: str, value: str) -> None:
    # A newline, ';' or '[' in a value would end the line, start a comment or open a section:
    # refuse anything outside a conservative alphabet rather than try to escape it.
    if not value:
        # an empty secret, user or address would render a config Asterisk reads differently
        raise ConfigError(f"empty Asterisk setting {key}", fix=f"give {key} a value")
    if not _SAFE_VALUE.fullmatch(value):
        raise ConfigError(f"unsafe character in Asterisk setting {key}",
                          fix="use only letters, digits and . : @ / + , = _ -")
