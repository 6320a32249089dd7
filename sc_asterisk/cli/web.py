"""``sc-asterisk web``: the HTTP API (and console) in its own process."""
from __future__ import annotations

import click

from ..asterisk_conf.trunks import split_host_port
from .common import Context, cli, pass_context


@cli.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="Where to listen. Keep it on loopback behind a TLS reverse proxy.")
@click.option("--insecure-cookies", is_flag=True,
              help="Session cookies without the Secure flag (plain HTTP on a trusted network "
                   "only; browsers treat http://localhost as secure anyway).")
@pass_context
def web(ctx: Context, bind: str, insecure_cookies: bool) -> None:
    """Serve the console (/) and the HTTP API (/api/v1, OpenAPI at /api/v1/openapi.json) on
    the same database as `serve` and the CLI. Nothing but the login page and static files is
    reachable without logging in.

    Example: sc-asterisk web --bind 127.0.0.1:8080
    """
    import uvicorn

    from ..users.accounts import list_users
    from ..web.app import create_app
    host, port = split_host_port(bind, 8080)
    app = create_app(ctx.db(), ctx.key(), secure_cookies=not insecure_cookies)
    with ctx.db().session() as s:
        if not list_users(s):
            click.echo("no user yet: nobody can log in; add one with "
                       "sc-asterisk user add NAME --role admin", err=True)
    # uvicorn's access log prints query strings (filters, never numbers or secrets: tokens
    # travel in headers) and client addresses.
    uvicorn.run(app, host=host.strip("[]"), port=port, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level="info")
