"""Queueing a campaign's audience: the filters, the profile's address-age rule, who is left
out and why. One function for ``campaign queue`` and the HTTP API.

Example::

    with db.session() as s:
        result = queue_audience(s, "muni", ["commune=Villeneuve"], key=key, today=date.today())
        print(result.queued, dict(result.excluded))
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from ..contacts.targeting import (PROFILE_ADDRESS_AGE, AddressAge, parse_address_age,
                                  parse_where, select_audience)
from .campaigns import get_campaign, queue_contacts


@dataclass(frozen=True)
class QueueResult:
    """How many contacts matched, how many attempts were queued, who was left out and why;
    with an area filter, the address age applied and its cut-off date."""

    matched: int
    queued: int
    excluded: Counter
    address_age: AddressAge | None
    address_cutoff: date | None


def queue_audience(s: Session, name: str, where: list[str] | tuple[str, ...], *,
                   key: str | bytes, today: date, min_age_default: int = 18,
                   max_address_age: str | None = None) -> QueueResult:
    """Queue one attempt per contact of the audience of campaign *name* (suppressed, erased,
    under-age, no-consent and out-of-area contacts never are). Roll the session back instead
    of committing it for a dry run: the counts are the same.

    Example: ``queue_audience(s, "muni", ["departement=75"], key=key, today=date.today())``
    """
    filters = parse_where(where)
    campaign = get_campaign(s, name)
    age = PROFILE_ADDRESS_AGE.get(campaign.compliance_profile) if max_address_age is None \
        else parse_address_age(max_address_age, campaign.compliance_profile)
    audience = select_audience(s, filters, today, key=key, min_age_default=min_age_default,
                               max_address_age=age)
    queued = queue_contacts(s, campaign, audience.contacts, excluded=audience.excluded)
    applied = age if filters.has_area else None
    return QueueResult(len(audience.members), queued, audience.excluded, applied,
                       applied.cutoff(today) if applied is not None else None)
