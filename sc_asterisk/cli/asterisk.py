"""``sc-asterisk asterisk render``: the Asterisk configuration a node needs, for the engineer."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from ..asterisk_conf import NodeConfig, render
from ..agi.auth import derive_token
from ..asterisk_conf.kit import DIALPLAN_FILE, INSTALL, render_kit
from ..asterisk_conf.trunks import TRUNKS_FILE, check_host, split_host_port
from ..errors import ConfigError
from ..telecom.apply import check_owned, plan_apply, write_owned
from ..telecom.nodes import get_node
from .common import Context, cli, pass_context

DEBIAN_DIRS = dict(etc_dir="/etc/asterisk", run_dir="/var/run/asterisk",
                   log_dir="/var/log/asterisk", lib_dir="/var/lib/asterisk",
                   spool_dir="/var/spool/asterisk", data_dir="/usr/share/asterisk")


@cli.group("asterisk")
def asterisk_group() -> None:
    """Asterisk configuration for a node, rendered by the renderer the lab tests.

    Example: sc-asterisk asterisk render --node paris-1 --out ./paris-1
    """


@asterisk_group.command("render")
@click.option("--node", "node_name", required=True, metavar="NODE",
              help="The node (see `node add`): AMI user and secret, FastAGI address, trunks.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write into (created; only files sc-asterisk wrote are replaced).")
@click.option("--controller", metavar="ADDR|CIDR",
              help="Address(es) the controller connects to AMI from (default: the node's "
                   "FastAGI host when it is an IP address).")
@click.option("--also-controller", "also", multiple=True, metavar="HOST:PORT",
              help="Another controller of the installation (its FastAGI address as the node "
                   "reaches it; repeatable): a call whose controller is lost mid-call is "
                   "resumed there.")
@click.option("--full", is_flag=True,
              help="A complete configuration for a dedicated Asterisk (Docker image, fresh "
                   "server) instead of include files for an existing one.")
@click.option("--ami-bind", default="0.0.0.0", show_default=True, metavar="ADDR",
              help="--full: address AMI listens on.")
@click.option("--sip-bind", default="0.0.0.0:5060", show_default=True, metavar="ADDR:PORT",
              help="--full: address and port SIP listens on (UDP).")
@click.option("--rtp-ports", default="10000-20000", show_default=True, metavar="LOW-HIGH",
              help="--full: RTP port range.")
@click.option("--mod-dir", default="/usr/lib/x86_64-linux-gnu/asterisk/modules", show_default=True,
              metavar="DIR", help="--full: Asterisk's module directory (depends on the CPU).")
@pass_context
def render_cmd(ctx: Context, node_name: str, out_dir: Path, controller: str | None,
               also: tuple[str, ...], full: bool,
               ami_bind: str, sip_bind: str, rtp_ports: str, mod_dir: str) -> None:
    """Write what a node's Asterisk needs: by default four include files for an existing
    Asterisk (manager user with least privilege and an ACL for the controller, dialplan
    globals, the broadcast/callback contexts, trunks), and how to include them.

    Example: sc-asterisk asterisk render --node paris-1 --controller 10.0.0.2 --out ./paris-1
    """
    with ctx.db().session() as s:
        node = get_node(s, node_name)
        plan = plan_apply(node)
        public_address, local_nets = node.public_address, tuple(node.local_nets or ())
    info = plan.info
    sip_host, sip_port = split_host_port(sip_bind)
    low, high = _port_range(rtp_ports)
    cfg = NodeConfig(node=info.name, ami_secret=info.ami_secret, ami_user=info.ami_user,
                     ami_port=info.ami_port, ami_bind=check_host(ami_bind, "AMI bind address"),
                     ami_permit=_permit(controller or info.agi_host),
                     agi_host=info.agi_host, agi_port=info.agi_port,
                     agi_token=derive_token(ctx.key()), agi_fallbacks=also,
                     sounds_dir=info.asterisk_sounds_dir, sip_bind=sip_host, sip_port=sip_port,
                     rtp_start=low, rtp_end=high, mod_dir=mod_dir,
                     public_address=public_address, local_nets=local_nets, **DEBIAN_DIRS)
    if full:
        files = render(cfg)
        kit = render_kit(cfg, plan.text)
        files[DIALPLAN_FILE] = kit[DIALPLAN_FILE]   # the same dialplan, with our marker line
        files[TRUNKS_FILE] = plan.text
    else:
        files = render_kit(cfg, plan.text)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        check_owned(out_dir / name)   # refuse before writing anything
    for name, text in sorted(files.items()):
        write_owned(out_dir / name, text)
        click.echo(f"wrote {out_dir / name}")
    if not full:
        click.echo("")
        click.echo(INSTALL.rstrip())


def _permit(value: str) -> str:
    """``10.0.0.2`` or ``172.28.0.0/16`` -> manager.conf's ``address/netmask``."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(f"the controller address {value!r} is not an IP address or network",
                          fix="pass --controller with the controller's IP (or a CIDR)") from None
    return f"{net.network_address}/{net.netmask}"


def _port_range(value: str) -> tuple[int, int]:
    try:
        low, high = (int(p) for p in value.split("-"))
    except ValueError:
        low = high = 0
    if not 1024 <= low < high <= 65535:
        raise ConfigError(f"bad RTP port range {value!r}", fix="use LOW-HIGH, e.g. 10000-20000")
    return low, high
