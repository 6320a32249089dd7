"""``sc-asterisk subject-export`` and ``sc-asterisk erase``: data-subject rights (GDPR art. 15
and 17) for one phone number."""
from __future__ import annotations

import json

import click

from ..contacts import erase_subject, export_subject
from .common import Context, cli, pass_context
from ..config import open_private

_region = click.option("--region", default="FR", show_default=True,
                       help="Country of a number written without +prefix.")


@cli.command("subject-export")
@click.argument("number")
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
              help="Write the JSON here ('-' for stdout); a file is created mode 0600.")
@_region
@pass_context
def subject_export(ctx: Context, number: str, output, region: str) -> None:
    """Everything held about a number, as JSON: contact, provenance, consent, suppression,
    every call attempt and call record. The request is written to the audit log.

    Example: sc-asterisk subject-export "06 12 34 56 78" -o dupont.json
    """
    with ctx.db().session() as s:
        data = export_subject(s, ctx.key(), number, region)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        with open_private(output, "w", encoding="utf-8") as f:
            f.write(text)


@cli.command()
@click.argument("number")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_region
@pass_context
def erase(ctx: Context, number: str, yes: bool, region: str) -> None:
    """Erase a person: delete the contact and its provenance, pseudonymise their call records,
    suppress the number for good (a later import rejects it as "erased"), and audit it.

    Example: sc-asterisk erase "06 12 34 56 78" --yes
    """
    if not yes:
        click.confirm(f"Erase all personal data held for {number}? This cannot be undone",
                      abort=True)
    with ctx.db().session() as s:
        report = erase_subject(s, ctx.key(), number, region)
    click.echo(f"erased: contact {'deleted' if report.contact_deleted else 'not held'}, "
               f"{report.provenance_deleted} provenance records deleted, "
               f"{report.attempts_pseudonymised} call attempts pseudonymised "
               f"({report.attempts_cancelled} pending cancelled), number suppressed")
