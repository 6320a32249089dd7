"""Asterisk nodes: add, edit, remove, list, and what the dialer needs to drive one."""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..asterisk_conf.transports import (NetConf, check_local_nets, check_public_address,
                                        check_tls_files)
from ..asterisk_conf.trunks import (check_host, check_name, check_port, check_secret,
                                    check_username, endpoint_name)
from ..db.models_telecom import Node, Trunk
from ..errors import ConfigError
from ..nodes import NodeInfo
from .records import find_named, get_named, remove_with_secret
from .secret_files import read_secret, secret_path, store_secret

_ASTERISK_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class NodeSpec:
    """What the engineer says about a node. Example::

        NodeSpec("paris-1", ami_host="10.0.0.5", ami_secret="...", agi_host="10.0.0.2",
                 sounds_dir="/srv/sc/sounds", asterisk_sounds_dir="/var/lib/asterisk/sounds/sc",
                 config_dir="/srv/sc/asterisk")
    """

    name: str
    ami_host: str
    agi_host: str
    sounds_dir: str
    asterisk_sounds_dir: str
    config_dir: str
    ami_secret: str | None = None
    ami_port: int = 5038
    ami_user: str = "sc-controller"
    agi_port: int = 4573
    max_channels: int = 30
    enabled: bool = True
    # The node's CEL log (<log dir>/sc-cel.json, asterisk render writes cel_custom.conf) as the
    # controller reads it: a restarted controller settles a dead one's calls from it.
    cel_file: str | None = None
    # Behind NAT: the address carriers reach the node at, and networks reached without NAT.
    public_address: str | None = None
    local_nets: tuple[str, ...] = ()
    # The TLS transport's certificate and key (paths valid on the node and on the controller,
    # which checks them): needed when the node carries a TLS trunk.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None     # the CAs carriers' certificates must chain to


def check_node_spec(spec: NodeSpec) -> NodeSpec:
    """Validate every field; return the normalised spec (ConfigError names the bad field)."""
    if not isinstance(spec.max_channels, int) or not 1 <= spec.max_channels <= 10000:
        raise ConfigError(f"bad max channels {spec.max_channels!r}", fix="use 1 to 10000")
    user = check_username(spec.ami_user)
    if user is None:
        raise ConfigError("empty AMI user", fix="give --ami-user (default sc-controller)")
    cert, key, ca = check_tls_files(spec.tls_cert_file, spec.tls_key_file, spec.tls_ca_file)
    public = check_public_address(spec.public_address)
    local_nets = check_local_nets(spec.local_nets)
    if local_nets and not public:
        raise ConfigError("local networks without a public address mean nothing to Asterisk",
                          fix="give --public-address too (the node's address as carriers see it)")
    return replace(spec, name=check_name(spec.name, "node"), public_address=public,
                   local_nets=local_nets, tls_cert_file=cert, tls_key_file=key, tls_ca_file=ca,
                   ami_host=check_host(spec.ami_host, "AMI host"),
                   ami_port=check_port(spec.ami_port, "AMI port"), ami_user=user,
                   agi_host=check_host(spec.agi_host, "FastAGI host"),
                   agi_port=check_port(spec.agi_port, "FastAGI port"),
                   sounds_dir=_host_path(spec.sounds_dir, "sounds dir"),
                   asterisk_sounds_dir=_asterisk_path(spec.asterisk_sounds_dir),
                   config_dir=_host_path(spec.config_dir, "config dir"),
                   cel_file=_host_path(spec.cel_file, "CEL file") if spec.cel_file else None,
                   enabled=bool(spec.enabled))


def add_node(session: Session, secrets_dir: Path, spec: NodeSpec, trunks: list[str] = ()) -> Node:
    """Register a node; its AMI secret goes to a 0600 file. Example::

        add_node(s, settings.secrets_dir, spec, trunks=["acme"])
    """
    spec = check_node_spec(spec)
    if spec.ami_secret is None:
        raise ConfigError(f"node {spec.name} has no AMI secret",
                          fix="give --ami-secret-file FILE (or type it at the prompt)")
    check_secret(spec.ami_secret)
    if find_node(session, spec.name) is not None:
        raise ConfigError(f"node {spec.name} already exists",
                          fix=f"choose another name, or: sc-asterisk node remove {spec.name}")
    carried = [_trunk(session, t) for t in trunks]
    columns = {f.name: getattr(spec, f.name) for f in fields(NodeSpec) if f.name != "ami_secret"}
    node = Node(**columns, ami_secret_file="", trunks=carried)
    session.add(node)
    session.flush()
    node.ami_secret_file = str(store_secret(secret_path(secrets_dir, "node", spec.name),
                                            spec.ami_secret))
    return node


def edit_node(session: Session, secrets_dir: Path, name: str, trunks: list[str] | None = None,
              **changes) -> Node:
    """Change some fields of a node; ``trunks`` replaces the set of trunks it carries.

    Example: ``edit_node(s, settings.secrets_dir, "paris-1", max_channels=60)``
    """
    node = get_node(session, name)
    unknown = (set(changes) - {f.name for f in fields(NodeSpec)}) | ({"name"} & set(changes))
    if unknown:
        raise ConfigError(f"cannot change {', '.join(sorted(unknown))}",
                          fix="remove the node and add it again")
    current = NodeSpec(**{f.name: getattr(node, f.name) for f in fields(NodeSpec)
                          if f.name != "ami_secret"})
    spec = check_node_spec(replace(current, **{k: v for k, v in changes.items()
                                               if k != "ami_secret"}))
    if changes.get("ami_secret") is not None:
        check_secret(changes["ami_secret"])
    carried = [_trunk(session, t) for t in trunks] if trunks is not None else None
    for f in fields(NodeSpec):
        if f.name != "ami_secret":
            setattr(node, f.name, getattr(spec, f.name))
    if carried is not None:
        node.trunks = carried
    if changes.get("ami_secret") is not None:
        node.ami_secret_file = str(store_secret(secret_path(secrets_dir, "node", node.name),
                                                changes["ami_secret"]))
    return node


def remove_node(session: Session, name: str) -> None:
    """Forget a node (its rendered files on the node are left for the engineer to remove)."""
    node = get_node(session, name)
    remove_with_secret(session, node, node.ami_secret_file)


def find_node(session: Session, name: str) -> Node | None:
    return find_named(session, Node, name)


def get_node(session: Session, name: str) -> Node:
    return get_named(session, Node, "node", name)


def list_nodes(session: Session, enabled_only: bool = False) -> list[Node]:
    query = select(Node).order_by(Node.name)
    if enabled_only:
        query = query.where(Node.enabled.is_(True))
    return list(session.scalars(query))


def enabled_node_infos(session: Session) -> list[NodeInfo]:
    """What the controller needs to drive every enabled node of the table, by name.

    Example: ``Controller(db, enabled_node_infos(s))``
    """
    return [node_info(n) for n in list_nodes(session, enabled_only=True)]


def carried_trunks(node: Node) -> list[Trunk]:
    """The enabled trunks a node carries, by name."""
    return [t for t in node.trunks if t.enabled]


def node_info(node: Node, trunk: str | None = None) -> NodeInfo:
    """What the controller needs to drive *node* (reads the AMI secret file).

    ``trunk_endpoint`` is the endpoint of *trunk* if given, else of the first enabled trunk the
    node carries (by name), else empty.

    Example: ``Controller(db, node_info(get_node(s, "paris-1")))``
    """
    carried = carried_trunks(node)
    if trunk is not None:
        names = {t.name.lower(): t.name for t in carried}
        if trunk.lower() not in names:
            raise ConfigError(f"node {node.name} does not carry trunk {trunk}",
                              fix=f"sc-asterisk node edit {node.name} --trunk {trunk}")
        chosen = names[trunk.lower()]
    else:
        chosen = carried[0].name if carried else None
    return NodeInfo(name=node.name, ami_host=node.ami_host, ami_port=node.ami_port,
                    ami_user=node.ami_user, ami_secret=read_secret(node.ami_secret_file),
                    agi_host=node.agi_host, agi_port=node.agi_port, sounds_dir=node.sounds_dir,
                    asterisk_sounds_dir=node.asterisk_sounds_dir,
                    trunk_endpoint=endpoint_name(chosen) if chosen else "",
                    max_channels=node.max_channels,
                    trunks=tuple(t.name for t in carried), cel_file=node.cel_file)


def net_conf(node: Node) -> NetConf:
    """The node's NAT and TLS settings for the renderer; the TLS files are checked again (they
    must still exist, the key still private). Example: ``render_trunks(t, net=net_conf(n))``."""
    cert, key, ca = check_tls_files(node.tls_cert_file, node.tls_key_file, node.tls_ca_file)
    return NetConf(public_address=node.public_address,
                   local_nets=tuple(node.local_nets or ()), tls_cert_file=cert, tls_key_file=key,
                   tls_ca_file=ca)


def callback_numbers(node: Node) -> tuple[str, ...]:
    """The caller IDs *node* answers: the numbers its enabled trunks' carriers deliver to it
    (every trunk's inbound calls go to the callback context). Example: ``("+33162000000",)``."""
    return tuple(dict.fromkeys(d for t in carried_trunks(node) for d in (t.dids or ())))


def answering_nodes(session: Session, number: str) -> list[str]:
    """The enabled nodes that answer *number* (E.164) on their callback line, by name.

    Example: ``answering_nodes(s, "+33162000000")`` -> ``["paris-1"]``
    """
    return [n.name for n in list_nodes(session, enabled_only=True)
            if number in callback_numbers(n)]


def describe(node: Node) -> dict[str, str]:
    """A node for humans; the secret is masked and never read."""
    return {"name": node.name, "ami": f"{node.ami_host}:{node.ami_port}",
            "ami user": node.ami_user, "ami secret": f"******** ({node.ami_secret_file})",
            "fastagi": f"{node.agi_host}:{node.agi_port} (as the node reaches the controller)",
            "max channels": str(node.max_channels), "sounds dir": node.sounds_dir,
            "asterisk sounds dir": node.asterisk_sounds_dir, "config dir": node.config_dir,
            "cel file": node.cel_file or "- (calls a dead controller left are unknown)",
            "public address": node.public_address or "- (no NAT)",
            "local nets": ",".join(node.local_nets or ()) or "-",
            "tls": f"{node.tls_cert_file} {node.tls_key_file}" if node.tls_cert_file else "-",
            "tls ca": node.tls_ca_file or "- (carriers' certificates not verified)",
            "callback numbers": ",".join(callback_numbers(node)) or "-",
            "enabled": "yes" if node.enabled else "no",
            "trunks": ",".join(t.name for t in node.trunks) or "-"}


def _trunk(session: Session, name: str) -> Trunk:
    from .trunks import get_trunk
    return get_trunk(session, name)


def _host_path(value: str, what: str) -> str:
    path = str(value or "")
    if not path.startswith("/") or "\n" in path or "\0" in path:
        raise ConfigError(f"bad {what} {path!r}", fix="give an absolute path")
    return str(Path(path))


def _asterisk_path(value: str) -> str:
    # Asterisk sees this path in the dialplan (SC_SOUNDS) and in AGI arguments, so it follows the
    # same narrow alphabet as every rendered value.
    path = str(value or "")
    if not _ASTERISK_PATH.fullmatch(path):
        raise ConfigError(f"bad Asterisk sounds dir {path!r}",
                          fix="give an absolute path of letters, digits and . _ / -")
    return posixpath.normpath(path)
