"""Campaign lifecycle and queueing (database side). No wire formats here."""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import AudioAsset, CallAttempt, CallRecord, Campaign, CampaignSegment, Contact
from ..errors import ConfigError, NotFound

ROLES = ("optout-intro", "message", "notice")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def create_campaign(s: Session, name: str, message: str, notice: str,
                    optout_intro: str | None = None, **settings) -> Campaign:
    """Create a draft campaign whose script is [intro] → message → notice.

    Example: ``create_campaign(s, "municipales", message="msg", notice="notice", cps=5)``
    """
    if not _NAME.match(name):
        raise ConfigError(f"bad campaign name {name!r}",
                          fix="use letters, digits, '.', '_' or '-' (max 100)")
    if s.scalar(select(Campaign).where(Campaign.name == name)) is not None:
        raise ConfigError(f"campaign {name!r} already exists", fix="choose another name")
    campaign = Campaign(name=name, **settings)
    roles = ([("optout-intro", optout_intro)] if optout_intro else []) + \
        [("message", message), ("notice", notice)]
    for position, (role, asset_name) in enumerate(roles):
        asset = s.scalar(select(AudioAsset).where(AudioAsset.name == asset_name))
        if asset is None:
            raise NotFound(f"no audio named {asset_name!r} for the {role}",
                           fix=f"import it first: sc-asterisk audio import FILE --name {asset_name}")
        campaign.segments.append(CampaignSegment(position=position, role=role, asset=asset))
    s.add(campaign)
    s.flush()
    return campaign


def get_campaign(s: Session, name: str) -> Campaign:
    campaign = s.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        raise NotFound(f"no campaign named {name!r}", fix="see: sc-asterisk campaign list")
    return campaign


def queue_contacts(s: Session, campaign: Campaign, contact_ids: Iterable[int]) -> int:
    """Queue one attempt per contact not already queued or dialed in this campaign."""
    already = set(s.scalars(select(CallAttempt.contact_id)
                            .where(CallAttempt.campaign_id == campaign.id)))
    added = 0
    for contact in s.scalars(select(Contact).where(Contact.id.in_(list(contact_ids)))):
        if contact.id in already:
            continue
        s.add(CallAttempt(campaign_id=campaign.id, contact_id=contact.id, number=contact.e164,
                          trunk=campaign.trunk))
        added += 1
    s.flush()
    return added


def status_counts(s: Session, campaign: Campaign) -> dict[str, Counter]:
    """Attempts by state and finished calls by outcome."""
    states = Counter(dict(s.execute(select(CallAttempt.state, func.count())
                                    .where(CallAttempt.campaign_id == campaign.id)
                                    .group_by(CallAttempt.state)).all()))
    outcomes = Counter(dict(s.execute(
        select(CallRecord.outcome, func.count()).join(CallAttempt)
        .where(CallAttempt.campaign_id == campaign.id).group_by(CallRecord.outcome)).all()))
    return {"states": states, "outcomes": outcomes}
