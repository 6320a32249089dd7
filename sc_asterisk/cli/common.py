"""The root click group and the option bundles shared by command groups."""
from __future__ import annotations

import logging

import click

from ..config import Settings
from ..db import Database


class Context:
    """What every command gets: settings and a lazily opened database."""

    def __init__(self, db_url: str | None, home: str | None):
        self.settings = Settings.load(db_url=db_url, home=home)
        self._db: Database | None = None
        self._key: str | None = None

    def db(self, require_schema: bool = True) -> Database:
        if self._db is None:
            database = Database(self.settings.db_url)
            database.require_reachable()
            self._db = database
        if require_schema:
            self._db.require_schema()
        return self._db

    def key(self) -> str:
        """The installation key, checked against the database (fails closed, see keys.py)."""
        from ..keys import load_key
        if self._key is None:
            self._key = load_key(self.settings, self.db())
        return self._key


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", envvar="SC_ASTERISK_DB", metavar="URL",
              help="SQLAlchemy URL (default: SQLite file under SC_ASTERISK_HOME).")
@click.option("--home", envvar="SC_ASTERISK_HOME", metavar="DIR",
              help="State directory (default ~/.local/share/sc-asterisk).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, home: str | None, verbose: int) -> None:
    """Voice-broadcast campaigns on a self-hosted Asterisk, measured to the millisecond.

    Example: sc-asterisk db upgrade && sc-asterisk demo
    """
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(db_url, home)


pass_context = click.make_pass_decorator(Context)
