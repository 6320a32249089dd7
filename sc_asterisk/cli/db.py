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
    """Create or upgrade the schema to the latest revision; on an empty database, also make
    the installation key (as `sc-asterisk key init` does), so a fresh install is one command.

    Example: sc-asterisk db upgrade
    """
    from ..keys import has_check_value, key_init
    database = ctx.db(require_schema=False)
    fresh = database.is_empty()
    database.upgrade()
    click.echo(f"schema up to date: {database.safe_url}")
    if fresh:
        click.echo(key_init(ctx.settings, database))
    elif not has_check_value(database):
        click.echo("Note: this database has no installation key check value yet: run "
                   "`sc-asterisk key init` as the installation's user, with its key file; "
                   "until then, commands that use the key refuse to run", err=True)
