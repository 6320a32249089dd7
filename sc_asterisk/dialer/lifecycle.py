"""Campaign lifecycle: draft → running → paused → completed / cancelled."""
from __future__ import annotations

from ..db.dialer_queries import cancel_queued
from ..errors import ConfigError
from .campaigns import check_profile, get_campaign
from .states import CampaignStatus, campaign_may_become


def set_status(db, name: str, status: str) -> str:
    """Move a campaign to *status*; pause and cancel take effect before the next originate
    (every claim re-reads the status), calls in progress finish.

    Example: ``set_status(db, "muni", "paused")``
    """
    status = CampaignStatus(status)
    with db.session() as s:
        campaign = get_campaign(s, name)
        if not campaign_may_become(campaign.status, status):
            raise ConfigError(f"campaign {name!r} is {campaign.status}; it cannot become {status}",
                              fix="see: sc-asterisk campaign status " + name)
        if status == CampaignStatus.RUNNING:
            check_profile(campaign.compliance_profile, [seg.role for seg in campaign.segments])
        campaign.status = status
        if status == CampaignStatus.CANCELLED:
            cancel_queued(s, campaign.id)
        return status
