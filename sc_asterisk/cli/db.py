"""``sc-asterisk db``: schema management."""
import click

from .common import Context, cli, pass_context


@cli.group()
def db() -> None:
    """Database schema.

    Example: sc-asterisk --db postgresql://sc@localhost/sc db upgrade
    """


@db.command()
@pass_context
def upgrade(ctx: Context) -> None:
    """Create or upgrade the schema to the latest revision.

    Example: sc-asterisk db upgrade
    """
    database = ctx.db(require_schema=False)
    database.upgrade()
    click.echo(f"schema up to date: {database.safe_url}")
