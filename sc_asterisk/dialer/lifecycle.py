"""Campaign lifecycle: draft → running → paused → completed / cancelled."""
from __future__ import annotations

from ..contacts.audit import record_audit
from ..contacts.callerid import PLANS
from ..db.dialer_queries import cancel_queued
from ..errors import ConfigError
from ..telecom.nodes import answering_nodes
from .campaigns import check_profile, get_campaign, is_lab_trunk
from .states import CampaignStatus, campaign_may_become


def set_status(db, name: str, status: str, actor: str | None = None) -> str:
    """Move a campaign to *status*; pause and cancel take effect before the next originate
    (every claim re-reads the status), calls in progress finish. With *actor* (the web's
    users), the change is written to the audit log in the same transaction.

    Example: ``set_status(db, "muni", "paused", actor="web:alice")``
    """
    status = CampaignStatus(status)
    with db.session() as s:
        campaign = get_campaign(s, name)
        if not campaign_may_become(campaign.status, status):
            raise ConfigError(f"campaign {name!r} is {campaign.status}; it cannot become {status}",
                              fix="see: sc-asterisk campaign status " + name)
        if status == CampaignStatus.RUNNING:
            check_profile(campaign.compliance_profile, [seg.role for seg in campaign.segments])
            check_callback_line(s, campaign)
        before = campaign.status
        campaign.status = status
        if status == CampaignStatus.CANCELLED:
            cancel_queued(s, campaign.id)
        if actor is not None:
            record_audit(s, "campaign-status", None,
                         {"campaign": name, "from": before, "to": str(status)}, actor)
        return status


def check_callback_line(s, campaign) -> None:
    """Under a profile with caller-ID rules (fr-cnil) the callee must be able to call the
    number back and object: some enabled node must answer the campaign's caller ID on its
    callback line (a trunk it carries lists it with --did). The lab trunk answers every
    number. A campaign without a caller ID presents the trunk's own number, which is not
    checked here.

    Example: ``check_callback_line(s, get_campaign(s, "muni"))``
    """
    if PLANS.get(campaign.compliance_profile) is None or campaign.caller_id is None \
            or is_lab_trunk(s, campaign.trunk):
        return
    if not answering_nodes(s, campaign.caller_id):
        raise ConfigError(
            f"no node answers caller ID {campaign.caller_id}: under "
            f"{campaign.compliance_profile} callees must be able to call back and object",
            fix=f"list it on a trunk an enabled node carries: sc-asterisk trunk edit "
                f"{campaign.trunk} --did {campaign.caller_id} (the list is replaced: repeat "
                "the trunk's other numbers)")
