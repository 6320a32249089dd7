"""A contact's consent slot: checked at import, and never able to stop the dialing loop (issue 13,
finding 2). A slot the dialer cannot read, or one that never meets the campaign's windows, ends
that attempt as ``skipped`` with a recorded reason; the other attempts are dialed."""
import asyncio
import csv
from datetime import date, datetime, timezone

import pytest
from assets import prompt_asset
from sqlalchemy import select

from sc_asterisk.contacts import ImportOptions, import_contacts
from sc_asterisk.db import CallAttempt, CallRecord, Campaign, Contact
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.dialer.calls import CallTracker
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.claim import Claim, Done, NodeSlot, claim_next
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.dialer.scheduler import NodeLink, Scheduler
from sc_asterisk.dialer.windows import parse_window
from sc_asterisk.nodes import NodeInfo

KEY = "test-installation-key"
# Monday 30 November 2026, 10:30 in Paris: inside the French default windows.
MONDAY_MORNING = datetime(2026, 11, 30, 9, 30, tzinfo=timezone.utc).timestamp()


def test_import_rejects_a_slot_the_dialer_cannot_read(db, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("tel;créneau\n"
                    "0612345678;samedi matin\n"           # free text: refused
                    "0623456789;samedi 10h-12h\n"         # whole French day names, 10h
                    "0634567890;lun-ven 18:00-20:00\n"
                    "0645678901;\n", encoding="utf-8")
    rejects = tmp_path / "rejets.csv"
    summary = import_contacts(db, path, KEY, ImportOptions(rejects_path=rejects,
                                                           today=date(2026, 6, 1)))
    assert (summary.created, dict(summary.rejected)) == (3, {"bad-consent-slot": 1})
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        assert [row[:3] for row in csv.reader(f)][1:] == [["2", "bad-consent-slot",
                                                           "samedi matin"]]
    with db.session() as s:
        slots = dict(s.execute(select(Contact.e164, Contact.consent_slot)).all())
    assert "+33612345678" not in slots
    assert slots["+33623456789"] == "samedi 10h-12h"


def test_slot_spellings_people_write_are_read():
    sat = parse_window("samedi 10h-12h")
    assert sat.days == frozenset({5}) and sat.ranges[0][1].hour == 12
    assert parse_window("Lundi - Vendredi 18h30-20h").days == frozenset(range(5))
    assert parse_window("lun-ven 18h30-20h").ranges[0][0].minute == 30


def _campaign(db, slots: list[str | None], windows: str | None = None) -> int:
    """A running campaign with one queued attempt per slot (in that order), slots stored as
    they are, as a database from before the import checked them would hold them."""
    with db.session() as s:
        for name in ("m", "n"):
            s.add(prompt_asset(name))
        s.flush()
        campaign = create_campaign(s, "slots", message="m", notice="n", windows=windows,
                                   retry_policy=NO_RETRY, status="running", cps=100,
                                   compliance_profile="basic")
        contacts = [Contact(e164=f"+3361234567{i}", time_zone="Europe/Paris", consent_slot=slot)
                    for i, slot in enumerate(slots)]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, campaign, [c.id for c in contacts])
        order = {c.id: i for i, c in enumerate(contacts)}  # claimed in the order given
        for attempt in s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == campaign.id)):
            attempt.not_before_ms = order[attempt.contact_id]
        return campaign.id


def _outcomes(db, cid: int) -> dict[str, tuple[str, str | None]]:
    with db.session() as s:
        rows = s.execute(select(CallAttempt.number, CallAttempt.state, CallRecord.outcome)
                         .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id)
                         .where(CallAttempt.campaign_id == cid)).all()
    return {number: (state, outcome) for number, state, outcome in rows}


def test_a_bad_slot_in_the_database_skips_that_attempt_and_the_claim_goes_on(db):
    cid = _campaign(db, ["samedi matin", None])
    with db.session() as s:
        claim = claim_next(s, cid, [NodeSlot("n1", 10)], "c1", now=MONDAY_MORNING)
    assert isinstance(claim, Claim) and claim.number == "+33612345671"
    assert _outcomes(db, cid)["+33612345670"] == ("skipped", "bad-consent-slot")


def test_a_slot_outside_every_window_ends_the_attempt_and_the_campaign_completes(db):
    # Saturday only, under the default Monday-Friday windows: no waiting would ever help.
    cid = _campaign(db, ["sam 10:00-12:00"])
    with db.session() as s:
        first = claim_next(s, cid, [NodeSlot("n1", 10)], "c1", now=MONDAY_MORNING)
    assert not isinstance(first, Claim)
    assert _outcomes(db, cid)["+33612345670"] == ("skipped", "consent-slot-outside-windows")
    with db.session() as s:
        assert isinstance(claim_next(s, cid, [NodeSlot("n1", 10)], "c1",
                                     now=MONDAY_MORNING + 1), Done)


def test_a_slot_that_meets_a_window_later_waits_for_it(db):
    cid = _campaign(db, ["lun-ven 18h-20h"])
    with db.session() as s:
        assert not isinstance(claim_next(s, cid, [NodeSlot("n1", 10)], "c1",
                                         now=MONDAY_MORNING), Claim)
        attempt = s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == cid)).one()
        assert attempt.state == "queued"
        assert attempt.not_before_ms == datetime(2026, 11, 30, 17, 0,
                                                 tzinfo=timezone.utc).timestamp() * 1000


class _Ami:
    connected = True


def test_the_dialing_loop_survives_bad_slots_and_completes_the_campaign(db, tmp_path):
    """``serve``'s loop (the Scheduler): before the fix the claim raised and the loop died."""
    # Both attempts end whatever the clock says: one slot unreadable, one on no weekday.
    cid = _campaign(db, ["samedi matin", "sam 10:00-12:00"],
                    windows="mon-fri 00:00-24:00 +holidays")
    node = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, str(tmp_path),
                    str(tmp_path), "lab")

    async def main():
        worker = DbWorker(db)
        try:
            scheduler = Scheduler(worker, CallTracker(), {"n1": NodeLink(node, _Ami())},
                                  controller_id="c1", agi_port=1)
            await asyncio.wait_for(scheduler.run(only="slots", poll_s=0.05), 30)
        finally:
            await worker.close()

    asyncio.run(main())
    assert _outcomes(db, cid) == {"+33612345670": ("skipped", "bad-consent-slot"),
                                  "+33612345671": ("skipped", "consent-slot-outside-windows")}
    with db.session() as s:
        assert s.get(Campaign, cid).status == "completed"
