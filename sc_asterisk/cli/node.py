"""``sc-asterisk node``: the Asterisk servers the controller drives (add, edit, list, show,
remove, check)."""
from __future__ import annotations

import asyncio

import click

from ..asterisk_conf.trunks import split_host_port
from ..errors import ScError
from ..telecom import nodes as lib
from ..telecom.check import check_node
from ..telecom.state import plan_node_check
from ..telecom.secret_files import read_secret_source
from .common import Context, cli, pass_context
from .listing import Listing, attach


def node_options(edit: bool):
    def deco(fn):
        opts = [
            click.option("--ami", "ami", required=not edit, metavar="HOST[:PORT]",
                         help="Where the controller reaches the node's AMI (default port 5038)."),
            click.option("--ami-user", default=None if edit else "sc-controller",
                         show_default=not edit, help="The manager user (see asterisk render)."),
            click.option("--ami-secret-file", metavar="FILE|-",
                         help="File whose first line is the AMI secret ('-': stdin); "
                              "without it you are prompted." if not edit else
                              "New AMI secret from this file ('-': stdin)."),
            click.option("--agi", "agi", required=not edit, metavar="HOST[:PORT]",
                         help="Where the node reaches the controller's FastAGI server "
                              "(port 4573 by default)."),
            click.option("--sounds-dir", required=not edit, metavar="DIR",
                         help="Where the controller writes prompts for this node."),
            click.option("--asterisk-sounds-dir", required=not edit, metavar="DIR",
                         help="The same directory as Asterisk sees it."),
            click.option("--config-dir", required=not edit, metavar="DIR",
                         help="Where the controller writes sc-trunks.conf for this node "
                              "(the node's /etc/asterisk, mounted or shared)."),
            click.option("--max-channels", type=int, default=None if edit else 30,
                         show_default=not edit, help="Calls at once on this node."),
            click.option("--trunk", "trunks", multiple=True, metavar="TRUNK",
                         help="Trunks this node carries (repeatable)."
                         + (" Replaces the list." if edit else "")),
            click.option("--enable/--disable", "enabled", default=None if edit else True,
                         help="A disabled node gets no calls."),
            click.option("--cel-file", metavar="PATH",
                         help="The node's CEL log (<log dir>/sc-cel.json, see asterisk render) "
                              "as the controller reads it: a restarted controller settles a "
                              "dead one's calls from it." + (" '' forgets it." if edit else "")),
            click.option("--public-address", metavar="ADDR",
                         help="Behind NAT: the address carriers reach the node at, put in SDP "
                              "and Contact (external_media/signaling_address)."
                              + (" '' forgets it." if edit else "")),
            click.option("--local-net", "local_nets", multiple=True, metavar="CIDR",
                         help="Behind NAT: a network the node reaches directly (repeatable)."
                              + (" Replaces the list ('' clears it)." if edit else "")),
            click.option("--tls-cert", "tls_cert_file", metavar="FILE",
                         help="Certificate of the TLS transport (a TLS trunk needs it); the "
                              "same path on the node and here." + (" '' forgets it." if edit
                                                                  else "")),
            click.option("--tls-key", "tls_key_file", metavar="FILE",
                         help="Its private key (mode 0640 or stricter)."),
            click.option("--tls-ca", "tls_ca_file", metavar="FILE",
                         help="CA certificates a TLS carrier's certificate must chain to "
                              "(verify_server = yes); without it carriers are not verified."),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return deco


@cli.group()
def node() -> None:
    """Asterisk servers: AMI address and credentials, FastAGI path, capacity, trunks.

    Example: sc-asterisk node list && sc-asterisk node check paris-1
    """


@node.command()
@click.argument("name")
@node_options(edit=False)
@pass_context
def add(ctx: Context, name: str, ami: str, agi: str, ami_secret_file, trunks, **opts) -> None:
    """Add a node. The AMI secret is stored in a 0600 file, never in the database.

    Example: sc-asterisk node add paris-1 --ami 10.0.0.5:5038 --ami-secret-file ami.txt \\
    --agi 10.0.0.2:4573 --sounds-dir /srv/sc/paris-1/sounds \\
    --asterisk-sounds-dir /var/lib/asterisk/sounds/sc --config-dir /srv/sc/paris-1/etc \\
    --max-channels 60 --trunk acme --cel-file /srv/sc/paris-1/log/sc-cel.json
    """
    ami_host, ami_port = split_host_port(ami, 5038)
    agi_host, agi_port = split_host_port(agi, 4573)
    opts["local_nets"] = tuple(opts["local_nets"])
    spec = lib.NodeSpec(name=name, ami_host=ami_host, ami_port=ami_port, agi_host=agi_host,
                        agi_port=agi_port, **opts)
    lib.check_node_spec(spec)  # every field, before asking for the secret
    secret = read_secret_source(ami_secret_file) if ami_secret_file else \
        click.prompt("AMI secret", hide_input=True)
    with ctx.db().session() as s:
        lib.add_node(s, ctx.settings.secrets_dir, _with_secret(spec, secret), list(trunks))
    click.echo(f"node {name} added; check it with: sc-asterisk node check {name}")


@node.command()
@click.argument("name")
@node_options(edit=True)
@pass_context
def edit(ctx: Context, name: str, ami, agi, ami_secret_file, trunks, **opts) -> None:
    """Change some settings of a node; the others stay.

    Example: sc-asterisk node edit paris-1 --max-channels 90 --trunk acme --trunk backup
    """
    changes = {k: v for k, v in opts.items() if v is not None and v != ()}
    if ami:
        changes["ami_host"], changes["ami_port"] = split_host_port(ami, 5038)
    if agi:
        changes["agi_host"], changes["agi_port"] = split_host_port(agi, 4573)
    if ami_secret_file:
        changes["ami_secret"] = read_secret_source(ami_secret_file)
    if not changes and not trunks:
        raise click.UsageError("nothing to change: give at least one option")
    with ctx.db().session() as s:
        lib.edit_node(s, ctx.settings.secrets_dir, name,
                      trunks=list(trunks) if trunks else None, **changes)
    click.echo(f"node {name} changed")


def _node_table(rows: list[dict[str, str]]) -> list[str]:
    return [f"{'name':16} {'ami':24} {'chan':>5} {'on':3} trunks"] + [
        f"{r['name']:16} {r['ami']:24} {r['max channels']:>5} {r['enabled']:3} {r['trunks']}"
        for r in rows]


attach(node, Listing("node", lib.list_nodes, _node_table,
                     "no node yet: sc-asterisk node add NAME --ami HOST --agi HOST ...",
                     describe=lib.describe, get=lib.get_node, example="paris-1",
                     delete=lib.remove_node, remove_doc="Forget a node (files already written "
                     "on it stay).\n\nExample: sc-asterisk node remove paris-1 --yes"))


@node.command()
@click.argument("name")
@click.option("--agi-bind", default="0.0.0.0", show_default=True, metavar="ADDR",
              help="Where this check listens for Asterisk's FastAGI request.")
@click.option("--no-agi", is_flag=True, help="Skip the FastAGI check.")
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
              help="Seconds to wait for each answer.")
@pass_context
def check(ctx: Context, name: str, agi_bind: str, no_agi: bool, timeout: float) -> None:
    """Log in over AMI, read the version, check modules, dialplan, NAT (the transports'
    external address against --public-address) and the FastAGI path; list the caller IDs the
    node answers (its trunks' --did numbers).

    Exit status 0 when everything passes, 1 (with the first failure on the last line) when
    not; a node that cannot be logged into fails with one line saying why.

    Example: sc-asterisk node check paris-1
    """
    from ..agi.auth import derive_token
    with ctx.db().session() as s:
        plan = plan_node_check(s, name)
    try:
        report = asyncio.run(check_node(plan.info, agi_bind=agi_bind, timeout=timeout,
                                        check_agi=not no_agi,
                                        agi_token=derive_token(ctx.key()),
                                        public_address=plan.public_address,
                                        callback_numbers=plan.callback_numbers,
                                        extra_modules=plan.extra_modules))
    except ScError as exc:
        click.echo(f"node {name}: FAILED: {exc.one_line()}", err=True)
        raise click.exceptions.Exit(1)
    for item in report.items:
        click.echo(f"  {'ok' if item.ok else 'FAIL':4} {item.name:9} {item.detail}")
    if report.ok:
        click.echo(f"node {name}: ok")
    else:
        click.echo(f"node {name}: FAILED: {report.reason}", err=True)
        raise click.exceptions.Exit(1)


def _with_secret(spec: lib.NodeSpec, secret: str) -> lib.NodeSpec:
    from dataclasses import replace
    return replace(spec, ami_secret=secret)
