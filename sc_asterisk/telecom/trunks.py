"""Carrier trunks: add, edit, remove, list, and turn one into what the renderer needs.

Every field is validated before anything is written (database row, secret file): a refused
value leaves no trace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..asterisk_conf.trunks import (TrunkConf, check_dial_prefix, check_name, endpoint_name,
                                    validate)
from ..db.models_telecom import Node, Trunk
from ..errors import ConfigError, NotFound
from .records import find_named, get_named, remove_with_secret
from .secret_files import read_secret, secret_path, store_secret

_RATE = re.compile(r"^[0-9]{1,5}(\.[0-9]{1,5})?$")


@dataclass(frozen=True)
class TrunkSpec:
    """What the engineer says about a trunk (the secret in clear, only on its way to a file).

    Example: ``TrunkSpec("acme", "203.0.113.10", username="acme", secret="s3cret")``
    """

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str | None = None
    secret: str | None = None
    register: bool = False
    match: tuple[str, ...] = ()
    codecs: str = "alaw,ulaw"
    max_channels: int = 30
    cps: float = 5.0
    qualify_s: int = 60
    caller_id_policy: str = "from"
    dial_prefix: str = ""
    rate_per_minute: Decimal | None = None
    billing_increment_s: int = 1
    enabled: bool = True
    srtp: bool = False
    # Numbers the carrier delivers on this trunk: the callback lines nodes carrying it answer.
    dids: tuple[str, ...] = ()

    def conf(self) -> TrunkConf:
        return TrunkConf(name=self.name, host=self.host, port=self.port, transport=self.transport,
                         username=self.username or None, secret=self.secret,
                         register=self.register, match=tuple(self.match),
                         codecs=self.codecs, caller_id_policy=self.caller_id_policy,
                         qualify_frequency=self.qualify_s, srtp=self.srtp)


def check_spec(spec: TrunkSpec) -> TrunkSpec:
    """Validate every field; return the normalised spec. Raises ConfigError naming the field."""
    conf = validate(spec.conf())
    return replace(spec, name=conf.name, host=conf.host, port=conf.port, username=conf.username,
                   match=conf.match, codecs=",".join(conf.codecs),
                   dial_prefix=check_dial_prefix(spec.dial_prefix),
                   max_channels=_int_range(spec.max_channels, 1, 10000, "max channels"),
                   cps=_positive(spec.cps, 1000, "cps"),
                   qualify_s=_int_range(spec.qualify_s, 0, 3600, "qualify interval"),
                   rate_per_minute=_rate(spec.rate_per_minute),
                   billing_increment_s=_int_range(spec.billing_increment_s, 1, 3600,
                                                  "billing increment"),
                   register=bool(spec.register), enabled=bool(spec.enabled),
                   srtp=conf.srtp, dids=_dids(spec.dids))


def add_trunk(session: Session, secrets_dir: Path, spec: TrunkSpec,
              nodes: list[str] = ()) -> Trunk:
    """Create a trunk (and its 0600 secret file), optionally carried by *nodes*.

    Example: ``add_trunk(s, settings.secrets_dir, TrunkSpec("acme", "203.0.113.10"))``
    """
    spec = check_spec(spec)
    if find_trunk(session, spec.name) is not None:
        raise ConfigError(f"trunk {spec.name} already exists",
                          fix=f"choose another name or use: sc-asterisk trunk edit {spec.name}")
    carried_by = [_node(session, n) for n in nodes]
    trunk = Trunk(**_columns(spec), nodes=carried_by)
    session.add(trunk)
    session.flush()
    if spec.secret is not None:
        trunk.secret_file = str(store_secret(secret_path(secrets_dir, "trunk", spec.name),
                                             spec.secret))
    return trunk


def edit_trunk(session: Session, secrets_dir: Path, name: str, nodes: list[str] | None = None,
               **changes) -> Trunk:
    """Change some fields of a trunk; the others keep their value. ``nodes`` replaces the set
    of nodes carrying it.

    Example: ``edit_trunk(s, settings.secrets_dir, "acme", cps=10, codecs="alaw")``
    """
    trunk = get_trunk(session, name)
    unknown = set(changes) - {f.name for f in fields(TrunkSpec)} | ({"name"} & set(changes))
    if unknown:
        raise ConfigError(f"cannot change {', '.join(sorted(unknown))}",
                          fix="remove the trunk and add it again under a new name")
    dropping_auth = "username" in changes and not changes["username"]
    current = spec_of(trunk, with_secret="secret" not in changes and not dropping_auth)
    spec = check_spec(replace(current, **changes))
    carried_by = [_node(session, n) for n in nodes] if nodes is not None else None
    for key, value in _columns(spec).items():
        if key != "secret_file":
            setattr(trunk, key, value)
    if carried_by is not None:
        trunk.nodes = carried_by
    path = secret_path(secrets_dir, "trunk", trunk.name)
    if spec.username is None:
        trunk.secret_file = None
        session.flush()
        path.unlink(missing_ok=True)
    elif "secret" in changes:
        trunk.secret_file = str(store_secret(path, spec.secret))
    return trunk


def remove_trunk(session: Session, name: str) -> None:
    """Delete a trunk and its secret file. Nodes stop carrying it at their next apply."""
    trunk = get_trunk(session, name)
    remove_with_secret(session, trunk, trunk.secret_file)


def find_trunk(session: Session, name: str) -> Trunk | None:
    return find_named(session, Trunk, name)


def get_trunk(session: Session, name: str) -> Trunk:
    return get_named(session, Trunk, "trunk", name)


def list_trunks(session: Session) -> list[Trunk]:
    return list(session.scalars(select(Trunk).order_by(Trunk.name)))


def spec_of(trunk: Trunk, with_secret: bool = True) -> TrunkSpec:
    """The trunk as a spec; the secret is read from its file when asked for."""
    secret = read_secret(trunk.secret_file) if with_secret and trunk.secret_file else None
    return TrunkSpec(name=trunk.name, host=trunk.host, port=trunk.port, transport=trunk.transport,
                     username=trunk.username, secret=secret, register=trunk.register,
                     match=tuple(trunk.match or ()), codecs=trunk.codecs,
                     max_channels=trunk.max_channels, cps=trunk.cps, qualify_s=trunk.qualify_s,
                     caller_id_policy=trunk.caller_id_policy, dial_prefix=trunk.dial_prefix,
                     rate_per_minute=trunk.rate_per_minute,
                     billing_increment_s=trunk.billing_increment_s, enabled=trunk.enabled,
                     srtp=bool(trunk.srtp), dids=tuple(trunk.dids or ()))


def trunk_conf(trunk: Trunk) -> TrunkConf:
    """What the renderer needs for *trunk* (reads its secret file)."""
    return spec_of(trunk).conf()


def describe(trunk: Trunk) -> dict[str, str]:
    """A trunk for humans: the secret masked, never read. Example: ``describe(t)["secret"]``."""
    return {
        "name": trunk.name, "endpoint": endpoint_name(trunk.name),
        "host": f"{trunk.host}:{trunk.port}", "transport": trunk.transport,
        "username": trunk.username or "-",
        "secret": f"******** ({trunk.secret_file})" if trunk.secret_file else "-",
        "register": "yes" if trunk.register else "no",
        "match": ",".join(trunk.match or ()) or f"{trunk.host} (its host)",
        "codecs": trunk.codecs, "max channels": str(trunk.max_channels),
        "cps": f"{trunk.cps:g}",
        "qualify": f"every {trunk.qualify_s}s" if trunk.qualify_s else "off",
        "caller-ID policy": trunk.caller_id_policy,
        "dial prefix": trunk.dial_prefix or "-",
        "rate per minute": "-" if trunk.rate_per_minute is None else f"{trunk.rate_per_minute:f}",
        "billing increment": f"{trunk.billing_increment_s}s",
        "srtp": "sdes" if trunk.srtp else "no",
        "callback numbers": ",".join(trunk.dids or ()) or "-",
        "enabled": "yes" if trunk.enabled else "no",
        "nodes": ",".join(n.name for n in trunk.nodes) or "-",
    }


def _columns(spec: TrunkSpec) -> dict:
    return dict(name=spec.name, host=spec.host, port=spec.port, transport=spec.transport,
                username=spec.username, secret_file=None, register=spec.register,
                match=list(spec.match), codecs=spec.codecs, max_channels=spec.max_channels,
                cps=spec.cps, qualify_s=spec.qualify_s, caller_id_policy=spec.caller_id_policy,
                dial_prefix=spec.dial_prefix, rate_per_minute=spec.rate_per_minute,
                billing_increment_s=spec.billing_increment_s, enabled=spec.enabled,
                srtp=spec.srtp, dids=list(spec.dids))


def _dids(values) -> tuple[str, ...]:
    from ..contacts.numbers import NumberRejected, to_e164
    out = []
    for value in values or ():
        try:
            out.append(to_e164(value))
        except NumberRejected as exc:
            raise ConfigError(f"bad callback number ({exc})",
                              fix="give each --did as +33162000000 or 01 62 00 00 00") from None
    return tuple(dict.fromkeys(out))


def _node(session: Session, name: str) -> Node:
    check_name(name, "node")
    node = session.scalar(select(Node).where(Node.name == name))
    if node is None:
        raise NotFound(f"no node named {name!r}", fix="add it first: sc-asterisk node add")
    return node


def _int_range(value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"bad {what} {value!r}", fix=f"use a whole number from {low} to {high}")
    return value


def _positive(value, high: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 < number <= high:
        raise ConfigError(f"bad {what} {value!r}", fix=f"use a number above 0 and at most {high:g}")
    return number


def _rate(value) -> Decimal | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not _RATE.fullmatch(text):
        raise ConfigError(f"bad rate per minute {value!r}",
                          fix="use a price such as 0.0125 (at most 5 decimals)")
    return Decimal(text)
