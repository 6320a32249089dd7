"""``sc-asterisk lab``: the local Asterisk used by the demo and the tests."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..lab.instance import LabInstance, LabPorts
from ..lab.root import DEFAULT_CACHE, asterisk_version, ensure_root
from .common import cli


def lab_options(fn):
    fn = click.option("--instance", default="default", show_default=True,
                      help="Lab instance name; each instance has its own ports.")(fn)
    fn = click.option("--port-offset", type=click.IntRange(0, 5), default=0, show_default=True,
                      help="Shift every port by N*10000 (AMI 5038, SIP 5060, AGI 4573, callees 5070).")(fn)
    fn = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                      default=DEFAULT_CACHE, show_default=True,
                      envvar="SC_ASTERISK_LAB_CACHE", help="Where the Asterisk root is cached.")(fn)
    return fn


def make_lab(instance: str, port_offset: int, cache_dir: Path | None = None) -> LabInstance:
    ports = LabPorts.offset(port_offset) if port_offset else LabPorts()
    return LabInstance(instance, ports, cache_dir or DEFAULT_CACHE)


@cli.group()
def lab() -> None:
    """A real Asterisk 22 (Debian sid packages) in a cached root on this machine.

    Example: sudo sc-asterisk lab up && sc-asterisk lab status
    """


@lab.command()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_CACHE, show_default=True, envvar="SC_ASTERISK_LAB_CACHE",
              help="Where the Asterisk root is cached.")
@click.option("--mirror", metavar="URL", help="Debian mirror (default: debootstrap's own).")
def provision(cache_dir: Path, mirror: str | None) -> None:
    """Build the cached Asterisk root if it is missing (reused when present).

    Example: sc-asterisk lab provision --cache-dir /var/cache/sc-asterisk
    """
    root = ensure_root(cache_dir, mirror=mirror, log=lambda m: click.echo(m, err=True))
    click.echo(f"{asterisk_version(root)} in {root}")


@lab.command()
@lab_options
@click.option("--mirror", metavar="URL", help="Debian mirror for the first provisioning.")
def up(instance: str, port_offset: int, cache_dir: Path, mirror: str | None) -> None:
    """Provision (first time, ~1 min) and start the lab Asterisk; wait until fully booted.

    Example: sc-asterisk lab up --mirror http://my-mirror.example/debian
    """
    root = ensure_root(cache_dir, mirror=mirror, log=lambda m: click.echo(m, err=True))
    node = make_lab(instance, port_offset, cache_dir).up()
    click.echo(f"{asterisk_version(root)} is up (instance {instance})")
    click.echo(f"  AMI      {node.ami_host}:{node.ami_port} (user {node.ami_user})")
    click.echo(f"  FastAGI  the controller listens on {node.agi_host}:{node.agi_port}")
    status = make_lab(instance, port_offset, cache_dir).status()
    click.echo(f"  SIP      {status['sip']}; callees (SIPp) at {status['callees']}")
    click.echo(f"  logs     {status['log']}")


@lab.command()
@lab_options
def down(instance: str, port_offset: int, cache_dir: Path) -> None:
    """Stop the Asterisk that `lab up` started (only that process).

    Example: sc-asterisk lab down
    """
    stopped = make_lab(instance, port_offset, cache_dir).down()
    click.echo("stopped" if stopped else "not running")


@lab.command()
@lab_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(instance: str, port_offset: int, cache_dir: Path, as_json: bool) -> None:
    """Tell whether the lab Asterisk runs and answers (exit status 1 when it does not).

    Example: sc-asterisk lab status --json
    """
    state = make_lab(instance, port_offset, cache_dir).status()
    if as_json:
        click.echo(json.dumps(state, indent=2))
    else:
        for key, value in state.items():
            click.echo(f"{key:12} {value}")
    if not (state["running"] and state["ami_listening"]):
        raise click.exceptions.Exit(1)
