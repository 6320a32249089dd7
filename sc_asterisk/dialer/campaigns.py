"""Campaign lifecycle and queueing (database side). No wire formats here."""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import (AudioAsset, CallAttempt, CallRecord, Campaign, CampaignSegment, Contact,
                  SegmentListen)
from ..callflow.amd import parse_amd
from ..callflow.roles import CONFIRM_ROLE, PLAYED_ROLES, VOICEMAIL_ROLE
from ..contacts.callerid import check_caller_id, serves
from ..db.models_telecom import Trunk
from ..errors import ConfigError, NotFound
from .windows import parse_window

PROFILES = ("fr-cnil", "basic")
# The bounds an operator may give a campaign's numeric settings: the CLI's options and the
# API's fields both read them (tests and benchmarks use the library beyond them).
LIMITS = {"max_channels": (1, 10000), "cps": (0.1, 500.0), "ring_timeout_s": (5, 120)}
LAB_TRUNK = "lab"   # the lab's SIPp callees (lab.instance.LabInstance.CALLEES_ENDPOINT)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_profile(profile: str, roles: list[str]) -> None:
    """Every profile needs the privacy notice; ``fr-cnil`` (the default for political calls)
    also needs the opt-out intro ("to never be called again, press 9") before anything else."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown compliance profile {profile!r}",
                          fix="use one of: " + ", ".join(PROFILES))
    played = [r for r in roles if r in PLAYED_ROLES]
    if "notice" not in played:
        raise ConfigError("a campaign without a privacy notice cannot run",
                          fix="give one with --notice AUDIO")
    if profile == "fr-cnil" and played[:1] != ["optout-intro"]:
        raise ConfigError("the fr-cnil profile needs an opt-out intro played first",
                          fix="give --optout-intro AUDIO, or choose --profile basic")


def create_campaign(s: Session, name: str, message: str, notice: str,
                    optout_intro: str | None = None, optout_confirm: str | None = None,
                    voicemail: str | None = None, compliance_profile: str = "fr-cnil",
                    **settings) -> Campaign:
    """Create a draft campaign whose script is [intro] → message → notice.

    Example: ``create_campaign(s, "muni", message="msg", notice="notice",
    optout_intro="intro", cps=5)``
    """
    if not _NAME.match(name):
        raise ConfigError(f"bad campaign name {name!r}",
                          fix="use letters, digits, '.', '_' or '-' (max 100)")
    if s.scalar(select(Campaign).where(Campaign.name == name)) is not None:
        raise ConfigError(f"campaign {name!r} already exists", fix="choose another name")
    roles = ([("optout-intro", optout_intro)] if optout_intro else []) + \
        [("message", message), ("notice", notice)] + \
        ([(CONFIRM_ROLE, optout_confirm)] if optout_confirm else []) + \
        ([(VOICEMAIL_ROLE, voicemail)] if voicemail else [])
    parse_amd(settings.get("amd_policy"))
    check_profile(compliance_profile, [r for r, _ in roles])
    if settings.get("caller_id") is not None:
        # The callback line matches callers on it, so it is stored as E.164; the profile's
        # numbering plan says which numbers an automated campaign may present.
        settings["caller_id"] = check_caller_id(compliance_profile, settings["caller_id"],
                                                lab_trunk=is_lab_trunk(s, settings.get("trunk")))
    if settings.get("windows"):
        for line in settings["windows"].splitlines():
            parse_window(line)          # refuse a bad window now, not at the first dial
    campaign = Campaign(name=name, compliance_profile=compliance_profile, **settings)
    for position, (role, asset_name) in enumerate(roles):
        asset = s.scalar(select(AudioAsset).where(AudioAsset.name == asset_name))
        if asset is None:
            raise NotFound(f"no audio named {asset_name!r} for the {role}",
                           fix=f"import it first: sc-asterisk audio import FILE --name {asset_name}")
        campaign.segments.append(CampaignSegment(position=position, role=role, asset=asset))
    s.add(campaign)
    s.flush()
    return campaign


def is_lab_trunk(s: Session, trunk: str | None) -> bool:
    """The lab's callee endpoint (the default trunk), unless a carrier trunk took its name."""
    return (trunk or LAB_TRUNK) == LAB_TRUNK and \
        s.scalar(select(Trunk.id).where(Trunk.name == LAB_TRUNK)) is None


def get_campaign(s: Session, name: str) -> Campaign:
    campaign = s.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        raise NotFound(f"no campaign named {name!r}", fix="see: sc-asterisk campaign list")
    return campaign


def list_campaigns(s: Session) -> list[Campaign]:
    """Every campaign, oldest first. Example: ``[c.name for c in list_campaigns(s)]``"""
    return list(s.scalars(select(Campaign).order_by(Campaign.id)))


def queue_contacts(s: Session, campaign: Campaign, contact_ids: Iterable[int],
                   excluded: Counter | None = None) -> int:
    """Queue one attempt per contact not already queued or dialed in this campaign. Contacts
    the campaign's caller ID may not call (the profile's numbering plan: under fr-cnil an
    overseas callee needs its territory's range) are counted in *excluded* as
    ``caller-id-territory``."""
    already = set(s.scalars(select(CallAttempt.contact_id)
                            .where(CallAttempt.campaign_id == campaign.id)))
    added = 0
    for contact in s.scalars(select(Contact).where(Contact.id.in_(list(contact_ids)))):
        if contact.id in already:
            continue
        if not serves(campaign.compliance_profile, campaign.caller_id, contact.e164):
            if excluded is not None:
                excluded["caller-id-territory"] += 1
            continue
        s.add(CallAttempt(campaign_id=campaign.id, contact_id=contact.id, number=contact.e164,
                          trunk=campaign.trunk))
        added += 1
    s.flush()
    return added


def status_counts(s: Session, campaign: Campaign) -> dict:
    """Attempts by state, finished calls by outcome and how many opted out.

    Example: ``status_counts(s, c)["outcomes"]["answered"]``
    """
    return {"states": attempt_states(s, campaign), **outcome_counts(s, campaign)}


def attempt_states(s: Session, campaign: Campaign) -> Counter:
    """Attempts by state: an index-only GROUP BY (``ix_call_attempt_claim`` starts with the
    campaign and the state), milliseconds for 200,000 attempts.

    Example: ``attempt_states(s, c)["queued"]``
    """
    return Counter(dict(s.execute(select(CallAttempt.state, func.count())
                                  .where(CallAttempt.campaign_id == campaign.id)
                                  .group_by(CallAttempt.state)).all()))


def outcome_counts(s: Session, campaign: Campaign) -> dict:
    """Finished calls by outcome and how many opted out: one GROUP BY over the campaign's call
    records (their rows are read: about 1 ms per 1,000 calls on SQLite).

    Example: ``outcome_counts(s, c)["opted_out"]``
    """
    outcomes: Counter = Counter()
    opted_out = 0
    for outcome, opted, count in s.execute(
            select(CallRecord.outcome, CallRecord.opted_out, func.count()).join(CallAttempt)
            .where(CallAttempt.campaign_id == campaign.id)
            .group_by(CallRecord.outcome, CallRecord.opted_out)).all():
        outcomes[outcome] += count
        opted_out += count if opted else 0
    return {"outcomes": outcomes, "opted_out": opted_out}


def campaign_page(s: Session, limit: int, offset: int = 0) -> tuple[list[Campaign], int]:
    """One page of campaigns, oldest first, and how many there are in all.

    Example: ``rows, total = campaign_page(s, limit=50, offset=100)``
    """
    rows = list(s.scalars(select(Campaign).order_by(Campaign.id).limit(limit).offset(offset)))
    return rows, s.scalar(select(func.count()).select_from(Campaign)) or 0


def live_counts(s: Session, campaign: Campaign, now_ms: int, window_s: int = 10,
                min_listen_s: int = 10) -> dict:
    """What an operator's live view shows: states, outcomes, calls started per second over the
    last *window_s*, and answered calls that heard at least *min_listen_s* of the message."""
    counts = status_counts(s, campaign)
    started = s.scalar(select(func.count()).select_from(CallRecord).join(CallAttempt)
                       .where(CallAttempt.campaign_id == campaign.id,
                              CallRecord.originate_ms >= now_ms - window_s * 1000)) or 0
    return {**counts, "cps": started / window_s,
            "heard_min": heard_at_least(s, campaign, min_listen_s)}


def heard_at_least(s: Session, campaign: Campaign, min_listen_s: int) -> int:
    """Answered calls of the campaign that heard at least *min_listen_s* of the message (the
    report's ``heard_min``): one count over its message listens.

    Example: ``heard_at_least(s, c, 10) / answered`` is the report's heard_min_rate
    """
    return s.scalar(select(func.count()).select_from(SegmentListen).join(CallAttempt,
                    SegmentListen.attempt_id == CallAttempt.id)
                    .where(CallAttempt.campaign_id == campaign.id,
                           SegmentListen.role == "message",
                           SegmentListen.listened_ms >= min_listen_s * 1000)) or 0
