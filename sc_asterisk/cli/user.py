"""``sc-asterisk user``: accounts of the web console and the HTTP API, and their API tokens."""
from __future__ import annotations

import sys

import click

from ..users import accounts, tokens
from ..users.roles import ROLES
from .common import Context, cli, pass_context


@cli.group()
def user() -> None:
    """Users of the web console and the HTTP API, each with one role.

    Roles: operator (campaigns), analyst (reports, pseudonymised exports), engineer (nodes,
    trunks), admin (users, clear-number exports, everything).

    Example: sc-asterisk user add alice --role operator
    """


@user.command()
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-file", metavar="FILE|-",
              help="File whose first line is the password ('-': stdin); without it you are "
                   "prompted.")
@pass_context
def add(ctx: Context, username: str, role: str, password_file: str | None) -> None:
    """Add a user (the password is stored as an argon2id hash).

    Example: sc-asterisk user add alice --role operator --password-file - < pass.txt
    """
    password = _read_password(password_file) if password_file else \
        click.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts.check_password(password)
    with ctx.db().session() as s:
        accounts.add_user(s, username, password, role)
    click.echo(f"user {username} added ({role})")


@user.command("list")
@pass_context
def list_(ctx: Context) -> None:
    """List users and their roles.

    Example: sc-asterisk user list
    """
    with ctx.db().session() as s:
        rows = [(u.username, u.role, u.created_at) for u in accounts.list_users(s)]
    if not rows:
        click.echo("no user yet: sc-asterisk user add NAME --role admin", err=True)
    for name, role, created in rows:
        click.echo(f"{name}\t{role}\t{created:%Y-%m-%d %H:%M}")


@user.command()
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def remove(ctx: Context, username: str, yes: bool) -> None:
    """Remove a user with their API tokens and browser sessions.

    Example: sc-asterisk user remove alice --yes
    """
    if not yes:
        click.confirm(f"remove user {username}?", abort=True)
    with ctx.db().session() as s:
        accounts.remove_user(s, username)
    click.echo(f"user {username} removed")


@user.group()
def token() -> None:
    """Bearer tokens for scripts (Authorization: Bearer sct_...), shown once.

    Example: sc-asterisk user token create alice --name crm
    """


@token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. crm.")
@pass_context
def token_create(ctx: Context, username: str, name: str) -> None:
    """Create a token and print it once (only its digest is stored).

    Example: sc-asterisk user token create alice --name crm > crm.token
    """
    with ctx.db().session() as s:
        value = tokens.create_token(s, username, name)
    click.echo(value)
    click.echo("store it now: it is not shown again", err=True)


@token.command("list")
@click.argument("username", required=False)
@pass_context
def token_list(ctx: Context, username: str | None) -> None:
    """List tokens (id, user, name, last use), never their secret.

    Example: sc-asterisk user token list alice
    """
    with ctx.db().session() as s:
        rows = [(t.token_id, name, t.name, t.last_used_at)
                for t, name in tokens.list_tokens(s, username)]
    for token_id, name, label, used in rows:
        click.echo(f"{token_id}\t{name}\t{label}\t{used:%Y-%m-%d %H:%M}" if used else
                   f"{token_id}\t{name}\t{label}\tnever used")


@token.command("revoke")
@click.argument("token_id")
@pass_context
def token_revoke(ctx: Context, token_id: str) -> None:
    """Revoke a token by its id (the 16 hex digits after sct_); it stops working at once.

    Example: sc-asterisk user token revoke 0f1e2d3c4b5a6978
    """
    with ctx.db().session() as s:
        tokens.revoke_token(s, token_id)
    click.echo(f"token {token_id} revoked")


def _read_password(path: str) -> str:
    if path == "-":
        value = sys.stdin.readline()
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.readline()
        except OSError as exc:
            from ..errors import ConfigError
            raise ConfigError(f"cannot read {path}: {exc.strerror}",
                              fix="give a readable file holding the password") from None
    return value.rstrip("\r\n")
