"""``sc-asterisk contacts``: import contact files and show what is held about a number."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..contacts import ImportOptions, import_contacts, open_import
from ..contacts.mapping import LEGAL_BASES, parse_mapping_options
from ..contacts.subject import describe_contact
from ..errors import ConfigError, NotFound
from .common import Context, cli, pass_context


@cli.group()
def contacts() -> None:
    """The contact base: import files with their provenance, look numbers up.

    Example: sc-asterisk contacts import liste.csv --list quartier-nord --legal-basis consent
    """


@contacts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_name", metavar="NAME", help="List the contacts belong to.")
@click.option("--source", metavar="TEXT", help="Where the file came from (default: its name).")
@click.option("--legal-basis", type=click.Choice(list(LEGAL_BASES)),
              help="GDPR legal basis for calling these contacts (required to call them).")
@click.option("--mapping", multiple=True, metavar="COLUMN=FIELD",
              help="Map a column: phone, first_name, last_name, postcode, commune, birth_date, "
                   "consent_at, consent_slot, legal_basis, time_zone, address_asserted_at, "
                   "ignore or attr.NAME. Repeatable.")
@click.option("--region", default="FR", show_default=True,
              help="Country of numbers written without +prefix.")
@click.option("--encoding", metavar="NAME", help="Text encoding (default: detect UTF-8/cp1252).")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Write refused rows (line, reason, raw cells) to this CSV file.")
@click.option("--address-date", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="When the file's addresses were last confirmed, for rows with neither an "
                   "address date column nor a consent date (else their age is unknown).")
@pass_context
def import_(ctx: Context, file: Path, list_name, source, legal_basis, mapping, region, encoding,
            rejects: Path | None, address_date) -> None:
    """Import a CSV or XLSX contact file. Bad rows are refused, never half-imported; running it
    again on the same file changes nothing.

    Example: sc-asterisk contacts import liste.csv --list nord --legal-basis consent
    --mapping "Portable=phone" --rejects rejets.csv
    """
    if rejects is not None and rejects.resolve() == file.resolve():
        raise ConfigError("--rejects would overwrite the imported file",
                          fix="choose another file name")
    options = ImportOptions(list_name=list_name, source=source, legal_basis=legal_basis,
                            region=region, encoding=encoding, rejects_path=rejects,
                            mapping=parse_mapping_options(mapping),
                            address_date=address_date.date() if address_date else None)
    opened = open_import(file, options)
    db = ctx.db()
    key = ctx.key()
    if sys.stderr.isatty():
        with click.progressbar(length=opened[0].total, label=f"importing {file.name}",
                               file=sys.stderr) as bar:
            summary = import_contacts(db, file, key, options, bar.update, opened)
    else:
        summary = import_contacts(db, file, key, options, None, opened)
    fmt = summary.file_format + (f", {summary.encoding}, {summary.delimiter!r}"
                                 if summary.file_format == "csv" else "")
    again = " (already imported: nothing new)" if summary.reused_batch else ""
    click.echo(f"{summary.file_name} ({fmt}): import batch {summary.batch_id}{again}")
    click.echo(f"  rows {summary.rows}: created {summary.created}, updated {summary.updated}, "
               f"unchanged {summary.unchanged}, rejected {summary.rejected_total} "
               f"(duplicates in file {summary.duplicates}, blank rows {summary.blank_rows})")
    if summary.rejected:
        click.echo("  rejected: " + ", ".join(f"{reason} {n}" for reason, n in
                                              summary.rejected.most_common()))
        click.echo(f"  rejects written to {rejects}" if rejects else
                   "  pass --rejects FILE to get the refused rows with their line numbers")


@contacts.command()
@click.argument("number")
@click.option("--region", default="FR", show_default=True,
              help="Country of a number written without +prefix.")
@pass_context
def show(ctx: Context, number: str, region: str) -> None:
    """Show a contact: attributes, provenance, consent and suppression status.

    Example: sc-asterisk contacts show "06 12 34 56 78"
    """
    with ctx.db().session() as s:
        held = describe_contact(s, ctx.key(), number, region)
    if held["contact"] is None:
        status = held["suppression"]["reason"] if held["suppression"] else "not suppressed"
        raise NotFound(f"no contact with number {number} ({status})",
                       fix="import it with: sc-asterisk contacts import FILE")
    for name, value in held["contact"].items():
        if name == "attributes":
            for key, text in value.items():
                click.echo(f"attr.{key}: {text}")
        else:
            click.echo(f"{name}: {'' if value is None else value}")
    suppression = held["suppression"]
    click.echo("suppression: " + (f"{suppression['reason']} (since {suppression['since']}, "
                                  f"{suppression['source']})" if suppression else "none"))
    for src in held["provenance"]:
        click.echo(f"provenance: batch {src['import_batch']} {src['file_name']} "
                   f"list={src['list_name'] or '-'} lines {src['lines'][0]}-{src['lines'][1]} "
                   f"imported {src['imported_at']} by {src['imported_by']} "
                   f"legal_basis={src['legal_basis'] or '-'} "
                   f"consent_at={src['consent_at'] or '-'} slot={src['consent_slot'] or '-'}")
