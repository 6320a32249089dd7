"""``sc-asterisk campaign``: create, queue, run and follow campaigns."""
from __future__ import annotations

import asyncio

import click

from ..dialer.campaigns import (create_campaign, get_campaign, list_campaigns, live_counts,
                                status_counts)
from ..dialer.campaigns import LIMITS, PROFILES
from ..dialer.lifecycle import set_status
from ..dialer.retries import policy_from_options
from .common import Context, cli, pass_context
from .lab import lab_options, make_lab


@cli.group()
def campaign() -> None:
    """Campaigns: a script (message, privacy notice) and an audience.

    Example: sc-asterisk campaign create muni --message msg --notice notice
    """


@campaign.command()
@click.argument("name")
@click.option("--message", required=True, metavar="AUDIO", help="Audio name of the candidate message.")
@click.option("--notice", required=True, metavar="AUDIO", help="Audio name of the privacy notice.")
@click.option("--optout-intro", metavar="AUDIO", help="Audio name of the opt-out intro, played first.")
@click.option("--optout-confirm", metavar="AUDIO", help="Audio played after an opt-out.")
@click.option("--optout-digit", default="9", show_default=True,
              type=click.Choice(list("0123456789*#")), help="DTMF digit that opts the callee out.")
@click.option("--profile", "compliance_profile", type=click.Choice(PROFILES), default="fr-cnil",
              show_default=True, help="fr-cnil: the opt-out intro must come first.")
@click.option("--trunk", default="lab", show_default=True, help="Trunk the calls go out on.")
@click.option("--caller-id", metavar="NUMBER", help="Caller-ID presented to callees (its callback "
              "line plays the campaign too). Under fr-cnil: a number of the ranges ARCEP "
              "decision 2022-1583 reserves for automated calls (01 62, 09 476...), no mobile.")
@click.option("--max-channels", type=click.IntRange(*LIMITS["max_channels"]), default=10,
              show_default=True)
@click.option("--cps", type=click.FloatRange(*LIMITS["cps"]), default=5.0, show_default=True,
              help="Calls started per second at most.")
@click.option("--ring-timeout", type=click.IntRange(*LIMITS["ring_timeout_s"]), default=30,
              show_default=True,
              help="Seconds to ring before giving up (no answer).")
@click.option("--window", "windows", multiple=True, metavar="DAYS HH:MM-HH:MM[,...]",
              help="Calling window in the callee's time zone, replacing the French default "
                   "(repeatable), e.g. 'mon-fri 10:00-13:00,14:00-20:00'.")
@click.option("--retry", "retries", multiple=True, metavar="OUTCOME=MAX:DELAY_S[:BACKOFF]",
              help="Retry rule replacing the default for that outcome (repeatable).")
@click.option("--no-retry", is_flag=True, help="Never retry any outcome.")
@click.option("--amd", "amd_policy", metavar="POLICY[:ARGS]",
              help="Answering-machine detection: play, voicemail or hangup, optionally with "
                   "AMD()'s arguments, e.g. hangup:2500,1500,800,5000,100,50,4,256,5000.")
@click.option("--voicemail", metavar="AUDIO", help="What machines hear under --amd voicemail.")
@pass_context
def create(ctx: Context, name, message, notice, optout_intro, optout_confirm, optout_digit,
           compliance_profile, trunk, caller_id, max_channels, cps, ring_timeout, windows,
           retries, no_retry, amd_policy, voicemail) -> None:
    """Create a draft campaign whose script is [opt-out intro] → message → notice.

    Example: sc-asterisk campaign create muni --optout-intro intro --message msg --notice notice --cps 10
    """
    policy = policy_from_options(retries, no_retry)
    with ctx.db().session() as s:
        c = create_campaign(s, name, message=message, notice=notice, optout_intro=optout_intro,
                            optout_confirm=optout_confirm, voicemail=voicemail,
                            amd_policy=amd_policy, compliance_profile=compliance_profile,
                            optout_digit=optout_digit, trunk=trunk, caller_id=caller_id,
                            max_channels=max_channels, cps=cps, ring_timeout_s=ring_timeout,
                            windows="\n".join(windows) or None, retry_policy=policy.to_json())
        click.echo(f"campaign {c.name} created ({len(c.segments)} segments, {c.compliance_profile})")


@campaign.command()
@click.argument("name")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Audience filter (repeatable): postcode, commune, departement, min-age, type, "
                   "list, attr.NAME; comma-separated values mean any of them.")
@click.option("--min-age", "min_age_default", type=click.IntRange(0, 120), default=18,
              show_default=True, help="Minimum age when --where gives none (political calls: 18).")
@click.option("--max-address-age", metavar="AGE",
              help="With postcode, commune or departement: leave out addresses confirmed longer "
                   "ago, e.g. 18m, 365d, 2y (default under fr-cnil: 12m; 'none' under basic).")
@pass_context
def queue(ctx: Context, name: str, where: tuple[str, ...], min_age_default: int,
          max_address_age: str | None) -> None:
    """Queue one attempt per contact of the audience; print who was excluded and why.

    Suppressed, erased, under-age, no-consent and out-of-area contacts are never queued
    (and suppression is checked again right before every dial). An area filter trusts only
    addresses confirmed recently enough (stale-address, address-age-unknown).

    Example: sc-asterisk campaign queue muni --where commune=Villeneuve --max-address-age 18m
    """
    from datetime import date

    from ..dialer.audience import queue_audience
    key = ctx.key()
    with ctx.db().session() as s:
        result = queue_audience(s, name, where, key=key, today=date.today(),
                                min_age_default=min_age_default,
                                max_address_age=max_address_age)
    click.echo(f"{result.matched} matched, {result.queued} attempts queued for {name}")
    if result.address_age is not None:
        click.echo(f"  addresses confirmed more than {result.address_age} ago left out "
                   f"(before {result.address_cutoff.isoformat()})")
    for reason, count in sorted(result.excluded.items()):
        click.echo(f"  excluded {reason}: {count}")


@campaign.command()
@click.argument("name")
@lab_options
@pass_context
def run(ctx: Context, name: str, instance: str, port_offset: int, cache_dir) -> None:
    """Run a campaign to the end on the lab Asterisk (the engine's `serve` comes later).

    Example: sc-asterisk campaign run muni
    """
    from ..service import Controller
    node = make_lab(instance, port_offset, cache_dir).node_info()

    async def go():
        async with Controller(ctx.db(), node, key=ctx.key()) as controller:
            await controller.run_campaign(name)

    asyncio.run(go())
    with ctx.db().session() as s:
        counts = status_counts(s, get_campaign(s, name))
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts["outcomes"].items(), key=str))
               or "nothing to dial")


def _lifecycle(status: str, verb: str, example: str):
    @click.argument("name")
    @pass_context
    def command(ctx: Context, name: str) -> None:
        set_status(ctx.db(), name, status)
        click.echo(f"campaign {name} {verb}")
    command.__doc__ = f"Mark the campaign {verb}; takes effect before the next originate.\n\n" \
                      f"Example: {example}"
    return command


campaign.command("start")(_lifecycle("running", "running", "sc-asterisk campaign start muni"))
campaign.command("resume")(_lifecycle("running", "running", "sc-asterisk campaign resume muni"))
campaign.command("pause")(_lifecycle("paused", "paused", "sc-asterisk campaign pause muni"))
campaign.command("cancel")(_lifecycle("cancelled", "cancelled", "sc-asterisk campaign cancel muni"))


@campaign.command()
@click.argument("name")
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
@pass_context
def status(ctx: Context, name: str, watch: bool) -> None:
    """Progress, calls in flight, calls per second, outcomes and listen rate so far.

    Example: sc-asterisk campaign status muni --watch
    """
    import time

    from ..reports.live import format_live_status
    while True:
        with ctx.db().session() as s:
            c = get_campaign(s, name)
            live = live_counts(s, c, int(time.time() * 1000))
            text = format_live_status(c.name, c.status, live["states"], live["outcomes"],
                                      cps=live["cps"], heard_min=live["heard_min"])
        if watch:
            click.clear()
        click.echo(text)
        if not watch:
            return
        time.sleep(1)


@campaign.command("list")
@pass_context
def list_(ctx: Context) -> None:
    """List campaigns.

    Example: sc-asterisk campaign list
    """
    with ctx.db().session() as s:
        for c in list_campaigns(s):
            click.echo(f"{c.name}\t{c.status}\t{c.cps} cps\t{c.max_channels} channels")
