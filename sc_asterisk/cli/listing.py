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

        attach(node, Listing("node", lib.list_nodes, _node_table, "no node yet: ...",
                             describe=lib.describe, get=lib.get_node, example="paris-1"))
    """

    kind: str                                           # "node": in prompts, messages, help
    rows: Callable[[Session], list]                     # the records `list` shows
    table: Callable[[list], list[str]]                  # (described) records -> lines
    empty: str                                          # `list` with no record: what to do
    empty_to_stderr: bool = False
    list_doc: str | None = None                         # default: "List {kind}s."
    describe: Callable[[Any], dict[str, str]] | None = None   # a record for humans
    get: Callable[[Session, str], Any] | None = None    # by name, NotFound naming `list`
    example: str = ""                                   # a record name for the help
    delete: Callable[[Session, str], Any] | None = None
    removed: str = "{kind} {name} removed"
    remove_doc: str = ""


def attach(group: click.Group, spec: Listing) -> None:
    """Add ``list`` to *group*, ``show`` when *spec* can get and describe one record, and
    ``remove`` when it can delete one.

    Example: ``attach(trunk, Listing("trunk", lib.list_trunks, _trunk_table, "no trunk yet"))``
    """
    def described(records: list) -> list:
        return [spec.describe(r) for r in records] if spec.describe else records

    @pass_context
    def list_(ctx: Context) -> None:
        with ctx.db().session() as s:
            rows = described(spec.rows(s))
            lines = spec.table(rows) if rows else None
        if lines is None:
            click.echo(spec.empty, err=spec.empty_to_stderr)
            return
        for line in lines:
            click.echo(line)

    _command(group, "list", list_, spec.list_doc or
             f"List {spec.kind}s.\n\nExample: sc-asterisk {spec.kind} list")

    if spec.get is not None and spec.describe is not None:
        @click.argument("name")
        @pass_context
        def show(ctx: Context, name: str) -> None:
            with ctx.db().session() as s:
                info = spec.describe(spec.get(s, name))
            width = max(map(len, info)) + 1
            for key, value in info.items():
                click.echo(f"{key:{width}} {value}")

        _command(group, "show", show, f"Show a {spec.kind}'s settings (the secret is masked)."
                 f"\n\nExample: sc-asterisk {spec.kind} show {spec.example}")

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
