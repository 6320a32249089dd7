"""``sc-asterisk suppress``: the project-wide list of numbers that must never be called."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..contacts import SuppressionStore
from ..contacts.audit import os_user
from .common import Context, cli, pass_context

_region = click.option("--region", default="FR", show_default=True,
                       help="Country of numbers written without +prefix.")


@cli.group()
def suppress() -> None:
    """Suppression: objections, opt-outs and do-not-call files. Checked when attempts are
    queued and again before every dial.

    Example: sc-asterisk suppress add "06 12 34 56 78" --reason "objection by letter"
    """


@suppress.command()
@click.argument("number")
@click.option("--reason", required=True, metavar="TEXT", help="Why (kept with the entry).")
@_region
@pass_context
def add(ctx: Context, number: str, reason: str, region: str) -> None:
    """Suppress one number (a manual objection).

    Example: sc-asterisk suppress add +33612345678 --reason "asked not to be called"
    """
    with ctx.db().session() as s:
        store = SuppressionStore(s, ctx.key())
        before, entry = store.add_typed(number, reason, f"cli:{os_user()}", region)
    if before.entry is not None:
        click.echo(f"{before.e164} was already suppressed: {entry.reason}")
    else:
        click.echo(f"{before.e164} suppressed: {entry.reason}")


@suppress.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default="do-not-call", show_default=True, metavar="TEXT")
@click.option("--source", metavar="TEXT", help="Where the list came from (default: file name).")
@click.option("--encoding", metavar="NAME", help="Text encoding (default: detect UTF-8/cp1252).")
@_region
@pass_context
def import_(ctx: Context, file: Path, reason: str, source: str | None, encoding: str | None,
            region: str) -> None:
    """Suppress every number of a do-not-call file (CSV/XLSX with a phone column, or one
    number per line). Invalid lines are counted and skipped.

    Example: sc-asterisk suppress import opposition.csv --source "mairie 2024-05"
    """
    with ctx.db().session() as s:
        store = SuppressionStore(s, ctx.key())
        summary = store.import_file(file, reason=reason, source=source, region=region,
                                    encoding=encoding)
    rejected = ", ".join(f"{r} {n}" for r, n in summary.rejected.most_common()) or "none"
    click.echo(f"{file.name}: {summary.added} suppressed, {summary.already} already suppressed, "
               f"invalid lines: {rejected}")


@suppress.command()
@click.argument("number")
@_region
@pass_context
def check(ctx: Context, number: str, region: str) -> None:
    """Is this number suppressed? Exit status 0 when it may be called, 1 when suppressed.

    Example: sc-asterisk suppress check "06 12 34 56 78" || echo "do not call"
    """
    with ctx.db().session() as s:
        result = SuppressionStore(s, ctx.key()).check(number, region)
    if result.entry is None:
        click.echo(f"{result.e164}: not suppressed")
        return
    click.echo(f"{result.e164}: suppressed ({result.entry.reason}, since "
               f"{result.entry.created_at:%Y-%m-%d}, {result.entry.source})")
    sys.exit(1)  # a status scripts can test, whatever the caller's standalone mode
