"""``sc-asterisk cdr export`` and ``sc-asterisk report``: the analyst's commands."""
from __future__ import annotations

import functools
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from ..errors import ConfigError
from ..reports import ExportOptions, Tariff, campaign_figures, export_cdr, write_report_files
from ..reports.options import parse_zone, row_filter
from ..reports.render import render_text
from ..reports.writers import FORMATS
from .common import Context, cli, pass_context


def tariff_options(fn):
    """--rate-per-minute / --billing-increment / --billing-minimum, turned into ``tariff``."""
    @click.option("--rate-per-minute", metavar="AMOUNT",
                  help="Trunk price per connected minute, e.g. 0.012 (enables the cost).")
    @click.option("--billing-increment", type=click.IntRange(1, 3600), metavar="SECONDS",
                  help="Billing increment in seconds [default: 1].")
    @click.option("--billing-minimum", type=click.IntRange(0, 3600), metavar="SECONDS",
                  help="Seconds billed at least per answered call [default: 0].")
    @functools.wraps(fn)
    def wrapper(*args, rate_per_minute, billing_increment, billing_minimum, **kwargs):
        return fn(*args, tariff=_tariff(rate_per_minute, billing_increment, billing_minimum),
                  **kwargs)
    return wrapper


def tz_option(help_text: str):
    return click.option("--tz", "tz_name", default="UTC", show_default=True, metavar="ZONE",
                        help=help_text)


@cli.group()
def cdr() -> None:
    """Call detail records: one row per call attempt, for analysts and auditors.

    Example: sc-asterisk cdr export --campaign muni -o calls.parquet
    """


@cdr.command("export")
@click.option("--campaign", "campaigns", multiple=True, metavar="NAME",
              help="Only this campaign (repeatable; default: all).")
@click.option("--since", metavar="WHEN", help="Dialled at or after, ISO 8601 (2024-05-01T08:00).")
@click.option("--until", metavar="WHEN", help="Dialled before, ISO 8601.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Output format [default: from the -o suffix, else csv].")
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE|-",
              help="Output file; - is standard output.")
@click.option("--fields", multiple=True, metavar="A,B,...",
              help="Only these columns, in this order (repeatable or comma-separated).")
@click.option("--pseudonymise/--no-pseudonymise", default=True, show_default=True,
              help="Replace numbers by their keyed hash; clear numbers are audited.")
@click.option("--excel", is_flag=True, help="CSV for French Excel: ';' separators, UTF-8 BOM.")
@tz_option("Time zone of written times and of --since/--until given without one.")
@tariff_options
@pass_context
def export(ctx: Context, campaigns, since, until, fmt, output, fields, pseudonymise, excel,
           tz_name, tariff) -> None:
    """Export one row per call attempt (CSV, JSON Lines or Parquet), in constant memory.

    Numbers are pseudonymised (HMAC-SHA256 with this installation's key: stable, not
    reversible) unless --no-pseudonymise is given, which writes an entry to the audit log.
    The file appears only once complete.

    Example: sc-asterisk cdr export --campaign muni --since 2024-05-01 -o calls.csv --excel
    """
    tz = parse_zone(tz_name)
    fmt = fmt or _format_from_suffix(output)
    filt = row_filter(campaigns, since, until, tz)
    if fmt == "parquet" and output == "-" and sys.stdout.isatty():
        raise ConfigError("Parquet is binary", fix="pass -o FILE.parquet or pipe the output")
    options = ExportOptions(fmt=fmt, fields=tuple(fields), pseudonymise=pseudonymise,
                            excel=excel, tz=tz, tariffs=tariff)
    show_bar = sys.stderr.isatty() and not (output == "-" and sys.stdout.isatty())
    progress = (lambda total: click.progressbar(length=total, label="exporting",
                                                file=sys.stderr)) if show_bar else None
    key = ctx.key()
    rows = export_cdr(ctx.db(), key, output, filt, options, progress=progress)
    if output != "-":
        click.echo(f"exported {rows} rows to {output}"
                   + ("" if pseudonymise else " (clear numbers: audited)"), err=True)


@cli.command()
@click.argument("campaign")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Write the retention curve as a PNG.")
@click.option("--html", type=click.Path(dir_okay=False), metavar="FILE.html",
              help="Write a standalone HTML report (figures, definitions, curve).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--min-listen-s", type=click.IntRange(1, 3600), default=10, show_default=True,
              help="Seconds of the message that count as 'listened'.")
@tz_option("Time zone of the calls-per-hour buckets.")
@tariff_options
@pass_context
def report(ctx: Context, campaign, plot, html, as_json, min_listen_s, tz_name, tariff) -> None:
    """Campaign figures, each printed with its definition, and the retention curve.

    Every figure is computed from the rows `cdr export` writes, so it can be checked
    from the export.

    Example: sc-asterisk report muni --plot retention.png --html report.html --rate-per-minute 0.012
    """
    figures = campaign_figures(ctx.db(), ctx.key(), campaign,
                               min_listen_s=min_listen_s, tariffs=tariff, tz=parse_zone(tz_name))
    write_report_files(figures, plot=plot, html=html)
    click.echo(json.dumps(figures, indent=2) if as_json else render_text(figures), nl=as_json)
    for label, path in (("plot", plot), ("html", html)):
        if path:
            click.echo(f"{label} written to {path}", err=True)


def _tariff(rate: str | None, increment: int | None, minimum: int | None) -> Tariff | None:
    if rate is None:
        if increment is not None or minimum is not None:
            raise ConfigError("a billing increment needs a rate",
                              fix="add --rate-per-minute AMOUNT")
        return None
    try:
        amount = Decimal(rate.replace(",", "."))
    except InvalidOperation:
        raise ConfigError(f"bad --rate-per-minute {rate!r}", fix="write e.g. 0.012") from None
    return Tariff(amount, increment or 1, minimum or 0)


def _format_from_suffix(output: str) -> str:
    suffix = Path(output).suffix.lower().lstrip(".")
    return {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(
        suffix, "csv")
