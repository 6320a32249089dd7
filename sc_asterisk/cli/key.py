"""``sc-asterisk key``: the installation key (see sc_asterisk/keys.py)."""
import click

from .common import Context, cli, pass_context


@cli.group()
def key() -> None:
    """The installation key, which keys suppressions, pseudonyms and the FastAGI token.

    Example: sc-asterisk key init
    """


@key.command("init")
@pass_context
def init(ctx: Context) -> None:
    """Make the installation key (once) and record its check value in the database.

    Safe to run again: a key that matches the database is left as it is; a missing or
    different one is refused with the fix. `db upgrade` runs it on an empty database.

    Example: SC_ASTERISK_HOME=/var/lib/sc-asterisk sc-asterisk key init
    """
    from ..keys import key_init
    click.echo(key_init(ctx.settings, ctx.db()))
