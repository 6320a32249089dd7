"""A node's network as PJSIP transports see it: NAT (public address, local networks) and TLS.

Every transport the project renders (the full configuration's UDP transport, the TLS transport
that ``sc-trunks.conf`` carries when a trunk uses TLS) gets the same NAT lines, so a node on a
cloud server puts its public address in SDP and Contact, and its private one for local peers.
"""
from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

TLS_TRANSPORT = "sc-transport-tls"
DEFAULT_TLS_PORT = 5061


@dataclass(frozen=True)
class NetConf:
    """Example: ``NetConf(public_address="198.51.100.7", local_nets=("10.0.0.0/8",))``"""

    public_address: str | None = None
    local_nets: tuple[str, ...] = ()
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_bind: str = "0.0.0.0"
    tls_port: int = DEFAULT_TLS_PORT


def check_public_address(value: str | None) -> str | None:
    """An IP address or a DNS name (Asterisk resolves it), or None."""
    if value is None or value == "":
        return None
    from .trunks import check_host
    return check_host(value, "public address")


def check_local_nets(values) -> tuple[str, ...]:
    """CIDRs the node reaches without NAT. Example: ``("10.0.0.0/8", "192.168.0.0/16")``."""
    out = []
    for value in values or ():
        if value == "":
            continue            # `node edit --local-net ''` clears the list
        try:
            out.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"bad local network {str(value)[:40]!r}",
                              fix="give a CIDR such as 10.0.0.0/8") from None
    return tuple(dict.fromkeys(out))


def check_tls_files(cert: str | None, key: str | None, ca: str | None = None
                    ) -> tuple[str | None, str | None, str | None]:
    """Certificate and key both or neither, and the CA file only with them; each an absolute
    path to a regular file; the key readable by no one but its owner and group (mode 0640 or
    stricter). Raises ConfigError naming the fix."""
    if not cert and not key:
        if ca:
            raise ConfigError("a TLS CA file without a certificate and key",
                              fix="give --tls-cert FILE and --tls-key FILE too")
        return None, None, None
    if not cert or not key:
        raise ConfigError("a TLS transport needs both a certificate and its key",
                          fix="give --tls-cert FILE and --tls-key FILE")
    for path, what in ((cert, "certificate"), (key, "key"), (ca, "CA file")):
        if not path:
            continue
        if not str(path).startswith("/") or any(c in str(path) for c in "\n\0;[] "):
            raise ConfigError(f"bad TLS {what} path {str(path)[:60]!r}",
                              fix="give an absolute path without spaces, ';' or brackets")
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise ConfigError(f"TLS {what} {path} does not exist",
                              fix="create it on the node (the same path on the controller: "
                                  "same host or a mount), or fix the path") from None
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"TLS {what} {path} is not a regular file", fix="give the file")
    mode = stat.S_IMODE(os.stat(key).st_mode)
    if mode & 0o037:
        raise ConfigError(f"TLS key {key} has mode {mode:04o}: others can read or write it",
                          fix=f"chmod 0640 {key} (owner and Asterisk's group only)")
    return str(Path(cert)), str(Path(key)), str(Path(ca)) if ca else None


def nat_lines(net: NetConf) -> list[str]:
    """The NAT settings of one transport (none without a public address)."""
    if not net.public_address:
        return []
    lines = [f"external_media_address = {net.public_address}",
             f"external_signaling_address = {net.public_address}"]
    lines += [f"local_net = {cidr}" for cidr in net.local_nets]
    return lines


def render_tls_transport(net: NetConf, node: str = "") -> str:
    """The TLS transport section (sc-trunks.conf holds it when a carried trunk uses TLS)."""
    if not net.tls_cert_file or not net.tls_key_file:
        where = f" {node}" if node else ""
        raise ConfigError(f"node{where} carries a TLS trunk but has no TLS certificate",
                          fix=f"sc-asterisk node edit {node or 'NODE'} --tls-cert FILE "
                              "--tls-key FILE")
    bind = f"[{net.tls_bind}]" if ":" in net.tls_bind else net.tls_bind
    lines = [f"[{TLS_TRANSPORT}]", "type = transport", "protocol = tls",
             f"bind = {bind}:{net.tls_port}",
             f"cert_file = {net.tls_cert_file}", f"priv_key_file = {net.tls_key_file}",
             # pjproject's default is TLS 1.0, which carriers (and the lab) refuse
             "method = tlsv1_2"]
    if net.tls_ca_file:
        lines += ["; a carrier whose certificate does not chain to these CAs (or names another",
                  "; host) is refused", f"ca_list_file = {net.tls_ca_file}", "verify_server = yes"]
    else:
        lines += ["; no CA file given (node edit --tls-ca): carriers' certificates are not verified",
                  "verify_server = no"]
    lines += nat_lines(net)
    return "\n; TLS for the trunks that use it (and the SRTP keys they carry)\n" + \
        "\n".join(lines) + "\n"
