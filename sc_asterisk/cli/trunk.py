"""``sc-asterisk trunk``: carrier trunks (add, edit, list, show, remove, apply, test)."""
from __future__ import annotations

import asyncio

import click

from ..asterisk_conf.trunks import split_host_port
from ..errors import ConfigError
from ..telecom import probe
from ..telecom import trunks as lib
from ..telecom.apply import apply_plan, check_target, plan_apply
from ..telecom.nodes import get_node, list_nodes
from ..telecom.secret_files import read_secret_source
from .common import Context, cli, pass_context
from .listing import Listing, attach


def trunk_options(edit: bool):
    """The options shared by ``add`` and ``edit`` (in ``edit`` every option is optional)."""
    def deco(fn):
        opts = [
            click.option("--host", "host_port", required=not edit, metavar="HOST[:PORT]",
                         help="Carrier address (DNS name or IP; IPv6 as [addr]:port)."),
            click.option("--transport", type=click.Choice(["udp", "tcp", "tls"]),
                         default=None if edit else "udp", show_default=not edit),
            click.option("--username", metavar="USER",
                         help="Account for digest auth (and registration)."
                         + (" Empty string: no auth." if edit else "")),
            click.option("--secret-file", metavar="FILE|-",
                         help="File whose first line is the SIP secret ('-': stdin). Without "
                              "it, a username makes sc-asterisk prompt for the secret."),
            click.option("--register/--no-register", default=None if edit else False,
                         help="Register to the carrier (needs --username)."),
            click.option("--match", multiple=True, metavar="CIDR",
                         help="Networks the carrier calls from (repeatable; default: its host)."
                         + (" Replaces the list." if edit else "")),
            click.option("--codecs", default=None if edit else "alaw,ulaw",
                         show_default=not edit, help="Codecs in preference order."),
            click.option("--max-channels", type=int, default=None if edit else 30,
                         show_default=not edit, help="Calls at once on this trunk."),
            click.option("--cps", type=float, default=None if edit else 5.0,
                         show_default=not edit, help="Calls started per second at most."),
            click.option("--qualify", "qualify_s", type=int, default=None if edit else 60,
                         show_default=not edit,
                         help="Seconds between OPTIONS pings; 0 for a carrier that ignores them."),
            click.option("--caller-id-policy",
                         type=click.Choice(["from", "pai", "rpid", "account"]),
                         default=None if edit else "from", show_default=not edit,
                         help="from: campaign number in From; pai/rpid: in that header, From "
                              "carries the account; account: the carrier's own number."),
            click.option("--dial-prefix", default=None, metavar="DIGITS",
                         help="Prepended to every dialed number (0-9 * # +)."),
            click.option("--rate-per-minute", default=None, metavar="PRICE",
                         help="Price of a minute, for cost reports."),
            click.option("--billing-increment", "billing_increment_s", type=int,
                         default=None if edit else 1, show_default=not edit,
                         help="Seconds the carrier bills by."),
            click.option("--srtp/--no-srtp", default=None if edit else False,
                         help="Encrypt the media (SRTP, keys in the SDP: media_encryption = "
                              "sdes); needs --transport tls."),
            click.option("--did", "dids", multiple=True, metavar="NUMBER",
                         help="A number the carrier delivers on this trunk (repeatable): the "
                              "callback line of campaigns presenting it."
                         + (" Replaces the list." if edit else "")),
            click.option("--enable/--disable", "enabled", default=None if edit else True,
                         help="A disabled trunk is not rendered on any node."),
            click.option("--node", "nodes", multiple=True, metavar="NODE",
                         help="Nodes that carry this trunk (repeatable)."
                         + (" Replaces the list." if edit else "")),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return deco


@cli.group()
def trunk() -> None:
    """Carrier SIP trunks, rendered into each node's sc-trunks.conf.

    Example: sc-asterisk trunk add acme --host sip.acme.example --username 0123 --register
    """


@trunk.command()
@click.argument("name")
@trunk_options(edit=False)
@pass_context
def add(ctx: Context, name: str, host_port: str, secret_file, nodes, **opts) -> None:
    """Add a trunk. With --username, the secret comes from --secret-file or a prompt.

    Example: sc-asterisk trunk add acme --host 203.0.113.10:5060 --username 0123 --register \\
    --match 203.0.113.0/24 --codecs alaw --node paris-1
    """
    host, port = split_host_port(host_port)
    secret = _secret(secret_file, ask=bool(opts.get("username")))
    spec = lib.TrunkSpec(name=name, host=host, port=port, secret=secret,
                         match=tuple(opts.pop("match")), dids=tuple(opts.pop("dids")),
                         dial_prefix=opts.pop("dial_prefix") or "",
                         **opts)
    lib.check_spec(spec)  # every field, before opening the database
    with ctx.db().session() as s:
        t = lib.add_trunk(s, ctx.settings.secrets_dir, spec, list(nodes))
        carried = ", ".join(n.name for n in t.nodes)
    click.echo(f"trunk {name} added" + (f", carried by {carried}" if carried else "")
               + "; run `sc-asterisk trunk apply` to load it on the nodes")


@trunk.command()
@click.argument("name")
@trunk_options(edit=True)
@click.option("--new-secret", is_flag=True, help="Prompt for a new secret.")
@pass_context
def edit(ctx: Context, name: str, host_port, secret_file, nodes, new_secret: bool, **opts) -> None:
    """Change some settings of a trunk; the others stay.

    Example: sc-asterisk trunk edit acme --cps 10 --codecs alaw,ulaw --node paris-1 --node lyon-1
    """
    changes = {k: v for k, v in opts.items() if v is not None and v != ()}
    for key in ("match", "dids"):
        if key in changes:
            changes[key] = tuple(changes[key])
    if host_port is not None:
        changes["host"], changes["port"] = split_host_port(host_port)
    if secret_file is not None or new_secret:
        changes["secret"] = _secret(secret_file, ask=True)
    if not changes and not nodes:
        raise click.UsageError("nothing to change: give at least one option")
    with ctx.db().session() as s:
        lib.edit_trunk(s, ctx.settings.secrets_dir, name, nodes=list(nodes) if nodes else None,
                       **changes)
    click.echo(f"trunk {name} changed; run `sc-asterisk trunk apply` to load it on the nodes")


def _trunk_table(rows: list[dict[str, str]]) -> list[str]:
    return [f"{'name':16} {'host':28} {'tr':3} {'reg':3} {'chan':>4} {'cps':>5} {'on':3} nodes"] + [
        f"{r['name']:16} {r['host']:28} {r['transport']:3} {r['register']:3} "
        f"{r['max channels']:>4} {r['cps']:>5} {r['enabled']:3} {r['nodes']}" for r in rows]


attach(trunk, Listing(
    "trunk", lib.list_trunks, _trunk_table, "no trunk yet: sc-asterisk trunk add NAME --host HOST",
    describe=lib.describe, get=lib.get_trunk, example="acme", delete=lib.remove_trunk,
    removed="trunk {name} removed; run `sc-asterisk trunk apply` to unload it from the nodes",
    remove_doc="Remove a trunk and its secret; `trunk apply` then unloads it from the nodes."
               "\n\nExample: sc-asterisk trunk remove acme --yes && sc-asterisk trunk apply"))


@trunk.command()
@click.option("--node", "nodes", multiple=True, metavar="NODE",
              help="Only these nodes (default: every enabled node).")
@pass_context
def apply(ctx: Context, nodes) -> None:
    """Render each node's sc-trunks.conf and reload PJSIP there over AMI.

    Every node's file is rendered and checked before any is written.

    Example: sc-asterisk trunk apply --node paris-1
    """
    with ctx.db().session() as s:
        targets = [get_node(s, n) for n in nodes] if nodes else list_nodes(s, enabled_only=True)
        plans = [plan_apply(n) for n in targets]
    if not plans:
        raise ConfigError("no node to apply to", fix="add one: sc-asterisk node add")
    for plan in plans:
        check_target(plan.path)
    failed = False
    for plan in plans:
        answer, problems = asyncio.run(apply_plan(plan))
        click.echo(f"{plan.node}: {plan.path} ({len(plan.trunks)} trunks: "
                   f"{', '.join(plan.trunks) or '-'}); {answer}")
        for problem in problems:
            click.echo(f"{plan.node}: FAILED: {problem} (see the node's Asterisk log)", err=True)
        failed = failed or bool(problems)
    if failed:
        raise click.exceptions.Exit(1)


@trunk.command("test")
@click.argument("name")
@click.option("--node", "node_name", metavar="NODE",
              help="Node to test from (default: the first that carries the trunk).")
@click.option("--number", metavar="NUMBER", help="Also place a test call to this number.")
@click.option("--prompt", metavar="AUDIO",
              help="Imported audio to play on the test call (default: a 2 s tone).")
@click.option("--caller-id", metavar="NUMBER", help="Caller-ID of the test call.")
@click.option("--ring-timeout", type=click.IntRange(5, 120), default=30, show_default=True)
@pass_context
def test_(ctx: Context, name: str, node_name, number, prompt, caller_id, ring_timeout) -> None:
    """Qualify the trunk (OPTIONS, round-trip time), show its registration and optionally
    call a number through it. Exit status 1 when something is wrong.

    Example: sc-asterisk trunk test acme --number +33612345678
    """
    with ctx.db().session() as s:
        plan = probe.plan_trunk_test(s, name, node_name, number=number, audio=prompt,
                                     caller_id=caller_id, ring_timeout_s=ring_timeout)
    if not asyncio.run(probe.test_trunk(plan, on_line=click.echo)).ok:
        raise click.exceptions.Exit(1)


def _secret(secret_file: str | None, ask: bool) -> str | None:
    if secret_file is not None:
        return read_secret_source(secret_file)
    if not ask:
        return None
    return click.prompt("SIP secret", hide_input=True, confirmation_prompt=True)

