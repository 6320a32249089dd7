"""The ``sc-asterisk`` command line: one module per command group.

Domain errors (ScError) become one line on stderr that names the fix, and exit status 2.
"""
from __future__ import annotations

import sys

import click
from sqlalchemy.exc import OperationalError

from ..errors import ScError
from .common import cli


def _register() -> None:
    # Imported for their side effect of attaching command groups to ``cli``.
    from . import (asterisk, audio, campaign, contacts, db, demo, key, lab, node,  # noqa: F401
                   report, serve, subject, suppress, trunk, user, web)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sc-asterisk`` console script."""
    try:
        sys.exit(cli.main(args=argv, standalone_mode=False) or 0)
    except ScError as exc:
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        # the database went away mid-command (reaching it at all is checked first, see
        # Database.require_reachable): the driver's first line, never its traceback
        reason = (str(getattr(exc, "orig", exc) or exc).strip().splitlines() or ["?"])[0]
        click.echo(f"Error: database error: {reason} (check that the database is reachable, "
                   "then run the command again)", err=True)
        sys.exit(2)
    except OSError as exc:
        # disk full, permission denied, a vanished directory: the system's words, on one line
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        click.echo(f"Error: {exc.strerror or exc}{where} (free space, fix permissions or "
                   "choose another path, then run the command again)", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
