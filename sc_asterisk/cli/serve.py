"""``sc-asterisk serve``: the long-running controller for every running campaign."""
from __future__ import annotations

import asyncio
import logging

import click

from .common import Context, cli, pass_context
from .lab import make_lab


@cli.command()
@click.option("--lab", "labs", multiple=True, metavar="INSTANCE[:OFFSET]",
              help="Drive a lab Asterisk (repeatable), e.g. --lab default --lab second:2.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0,
              help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off).")
@click.option("--drain-timeout", type=click.FloatRange(0, 3600), default=120.0, show_default=True,
              help="On SIGTERM, seconds to let live calls finish.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--agi-port", type=click.IntRange(1, 65535),
              help="This controller's FastAGI port (default: the first node's setting); "
                   "each controller on a host needs its own.")
@click.option("--agi-bind", default="127.0.0.1", show_default=True, metavar="ADDR",
              help="Address the FastAGI server listens on (nodes on other hosts: their side of "
                   "the network, never a public address).")
@click.option("--reconcile-after", type=click.FloatRange(1, 3600), default=10.0, show_default=True,
              help="Seconds without heartbeat after which a controller's calls are reconciled.")
@pass_context
def serve(ctx: Context, labs: tuple[str, ...], metrics_port: int, drain_timeout: float,
          log_format: str, agi_port: int | None, agi_bind: str, reconcile_after: float) -> None:
    """Dial every running campaign on the configured nodes until SIGTERM.

    SIGTERM or SIGINT: stop originating, let live calls finish (bounded), exit 0.

    Example: sc-asterisk serve --lab default --metrics-port 9108 --log-format json
    """
    from ..logs import use_json_logs
    from ..service import Controller
    if log_format == "json":
        use_json_logs()
    elif not logging.getLogger().handlers or logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    nodes = [_lab_node(spec) for spec in labs] + _table_nodes(ctx)
    if not nodes:
        raise click.UsageError("no node to drive: add one with `sc-asterisk node add` or pass --lab")
    database = ctx.db()
    key = ctx.key()        # this home's key (--home or SC_ASTERISK_HOME), checked: fail closed

    async def main() -> int:
        controller = Controller(database, nodes, key=key, agi_port=agi_port, agi_bind=agi_bind,
                                stale_after_s=reconcile_after)
        return await controller.serve_until_signal(drain_timeout, metrics_port)

    if asyncio.run(main()):
        raise click.exceptions.Exit(1)


def _lab_node(spec: str):
    name, _, offset = spec.partition(":")
    return make_lab(name, int(offset or 0), None).node_info()


def _table_nodes(ctx: Context) -> list:
    from ..telecom.nodes import enabled_node_infos
    with ctx.db().session() as s:
        return enabled_node_infos(s)
