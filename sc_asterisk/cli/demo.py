"""``sc-asterisk demo``: a real campaign on the lab Asterisk with simulated callees."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .common import Context, cli, pass_context
from .lab import lab_options, make_lab


@cli.command()
@lab_options
@click.option("--mirror", metavar="URL", help="Debian mirror for the first provisioning.")
@click.option("--keep-lab", is_flag=True, help="Leave the lab Asterisk running afterwards.")
@pass_context
def demo(ctx: Context, instance: str, port_offset: int, cache_dir: Path, mirror: str | None,
         keep_lab: bool) -> None:
    """Run a 20-call campaign on the lab and print what each callee heard (needs root).

    Example: sudo sc-asterisk demo
    """
    from ..db import Database
    from ..demo import format_table, run_demo
    from ..keys import key_init, load_key
    from ..reports import demo_report
    # The demo has a database of its own, made anew each run, so that its fictional contacts
    # never mix with real ones (nor hit the per-number attempt cap after a few runs).
    demo_db = ctx.settings.home / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{demo_db}{suffix}").unlink(missing_ok=True)
    # A fresh database: `key init` makes the home's key if there is none (the lab's FastAGI
    # token comes from it) and records it, as `db upgrade` does on a fresh install.
    database = Database(f"sqlite:///{demo_db}")
    database.upgrade()
    key_init(ctx.settings, database)
    lab = make_lab(instance, port_offset, cache_dir)
    was_running = lab.pid() is not None
    try:
        with tempfile.TemporaryDirectory(prefix="sc-demo-") as work:
            name, rows = run_demo(database, lab, Path(work),
                                  echo=lambda m: click.echo(m, err=True), mirror=mirror)
    finally:
        if not (keep_lab or was_running):
            lab.down()
    click.echo(format_table(rows))
    answered = [r for r in rows if r["outcome"] == "answered"]
    click.echo(f"\n{len(rows)} calls, {len(answered)} answered; listened ms come from Asterisk's "
               "STREAM FILE endpos, 'SIPp BYE at' is when the simulated callee hung up.")
    report = demo_report(database, name, ctx.settings.home / "demo-report",
                         key=load_key(ctx.settings, database))
    click.echo(f"Report: {report['html']} (retention curve {report['png']}); export "
               f"{report['csv']}")
    click.echo(f"The demo's database: {demo_db} (e.g. sc-asterisk --db sqlite:///{demo_db} "
               f"report {name})")
    from ..users.accounts import one_time_admin
    with database.session() as s:
        password = one_time_admin(s)
    click.echo(f"Console: sc-asterisk --db sqlite:///{demo_db} web, then open "
               f"http://127.0.0.1:8080 and log in as admin with the one-time password "
               f"{password} (the demo's database only; made anew each run)")
