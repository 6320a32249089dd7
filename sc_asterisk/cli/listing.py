"""The ``list``, ``show`` and ``remove`` commands of a command group, built from one spec.

Each group says how to fetch and render its records and how to delete one; the commands'
shape (a table, ``key value`` lines, a confirmation unless ``--yes``) is the same everywhere.
Lookups raise the library's NotFound, whose fix names the ``list`` command.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import click
from sqlalchemy.orm import Session

from .common import Context, pass_context


@dataclass(frozen=True)
class Listing:
    """How a group lists, shows and removes its records. Example::

        attach(node, Listing("node", rows=..., table=..., empty="no node yet: ...",
                             list_doc="List nodes.\\n\\nExample: sc-asterisk node list"))
    """

    kind: str                                           # "node": in prompts and messages
    rows: Callable[[Session], list]                     # what `list` shows
    table: Callable[[list], list[str]]                  # rows -> lines (header included)
    empty: str                                          # `list` with no row: what to do
    list_doc: str
    empty_to_stderr: bool = False
    describe: Callable[[Session, str], dict[str, str]] | None = None   # for `show`
    key_width: int = 20
    show_doc: str = ""
    delete: Callable[[Session, str], Any] | None = None                # for `remove`
    removed: str = "{kind} {name} removed"
    remove_doc: str = ""


def attach(group: click.Group, spec: Listing) -> None:
    """Add ``list`` to *group*, and ``show`` / ``remove`` when *spec* says how.

    Example: ``attach(trunk, TRUNKS)``
    """
    @pass_context
    def list_(ctx: Context) -> None:
        with ctx.db().session() as s:
            rows = spec.rows(s)
            lines = spec.table(rows) if rows else None
        if lines is None:
            click.echo(spec.empty, err=spec.empty_to_stderr)
            return
        for line in lines:
            click.echo(line)

    _command(group, "list", list_, spec.list_doc)

    if spec.describe is not None:
        @click.argument("name")
        @pass_context
        def show(ctx: Context, name: str) -> None:
            with ctx.db().session() as s:
                info = spec.describe(s, name)
            for key, value in info.items():
                click.echo(f"{key:{spec.key_width}} {value}")

        _command(group, "show", show, spec.show_doc)

    if spec.delete is not None:
        @click.argument("name")
        @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
        @pass_context
        def remove(ctx: Context, name: str, yes: bool) -> None:
            if not yes:
                click.confirm(f"remove {spec.kind} {name}?", abort=True)
            with ctx.db().session() as s:
                spec.delete(s, name)
            click.echo(spec.removed.format(kind=spec.kind, name=name))

        _command(group, "remove", remove, spec.remove_doc)


def _command(group: click.Group, name: str, fn: Callable, doc: str) -> None:
    fn.__doc__ = doc
    group.command(name)(fn)
