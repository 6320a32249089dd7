"""Every command of the ``sc-asterisk`` tree has help with an example (design rule)."""
from __future__ import annotations

import click

from sc_asterisk.cli import cli


def _walk(command: click.Command, path: str):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, f"{path} {name}")


def test_every_command_has_help_with_an_example():
    commands = dict(_walk(cli, "sc-asterisk"))
    assert len(commands) > 40          # the walk reached the subcommands
    missing = [path for path, command in commands.items() if "Example" not in (command.help or "")]
    assert missing == []


def test_the_walk_fails_on_a_command_without_an_example():
    group = click.Group("g")

    @group.command()
    def bare() -> None:
        """No example here."""

    assert [p for p, c in _walk(group, "g") if "Example" not in (c.help or "")] == ["g", "g bare"]
