"""Time zones and public holidays of France's overseas territories (issue 13, finding 10): each
callee is called in their own zone and never on a public holiday of their territory, and a
window without ``+holidays`` does not close another window that has it."""
import hashlib
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select

from sc_asterisk.contacts import ImportOptions, import_contacts
from sc_asterisk.contacts.numbers import normalise, plan_regions
from sc_asterisk.db import AudioAsset, CallAttempt, Contact
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.claim import Claim, NodeSlot, claim_next
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.dialer.windows import calendar_of, is_callable, parse_window

# territory: (a number there, its zone, a weekday that is a public holiday there but not in
# mainland France, the holiday's name in the holidays package)
TERRITORIES = {
    "PF": ("+689 87 12 34 56", "Pacific/Tahiti", date(2026, 3, 5), "Missionary Day"),
    "BL": ("+590 590 27 12 34", "America/Guadeloupe", date(2026, 10, 9), "Abolition of Slavery"),
    "MF": ("+590 590 77 12 34", "America/Guadeloupe", date(2026, 5, 28), "Abolition of Slavery"),
    "GP": ("+590 590 20 12 34", "America/Guadeloupe", date(2026, 5, 27), "Abolition of Slavery"),
    "MQ": ("+596 596 30 12 34", "America/Martinique", date(2026, 5, 22), "Abolition of Slavery"),
    "GF": ("+594 594 10 12 34", "America/Cayenne", date(2026, 6, 10), "Abolition of Slavery"),
    "RE": ("+262 262 16 12 34", "Indian/Reunion", date(2027, 12, 20), "Abolition of Slavery"),
    "YT": ("+262 269 60 12 34", "Indian/Mayotte", date(2026, 4, 27), "Abolition of Slavery"),
    "NC": ("+687 20 12 34", "Pacific/Noumea", date(2026, 9, 24), "Citizenship Day"),
    "WF": ("+681 72 12 34", "Pacific/Wallis", date(2026, 7, 29), "Territory Day"),
    # Saint-Pierre-et-Miquelon keeps the mainland's holidays (none of its own in the package).
    "PM": ("+508 41 12 34", "America/Miquelon", date(2026, 11, 11), "Armistice Day"),
}


def _at(day: date, hour: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo(zone)).astimezone(timezone.utc)


@pytest.mark.parametrize("territory", sorted(TERRITORIES))
def test_each_territory_in_its_zone_and_on_its_calendar(territory):
    raw, zone, holiday, name = TERRITORIES[territory]
    phone = normalise(raw)
    assert phone.time_zone == zone
    regions = plan_regions(phone.e164)
    assert territory in regions
    assert holiday in holidays.country_holidays(territory, years=holiday.year), name
    if territory != "PM":
        assert holiday not in holidays.France(years=holiday.year)
    assert not is_callable(_at(holiday, 11, zone), phone.time_zone, regions=regions)
    # a week later, same weekday, same local time: an ordinary working day there
    assert is_callable(_at(holiday + timedelta(days=7), 11, zone), phone.time_zone,
                       regions=regions)


def test_tahiti_is_called_in_tahiti_time_not_gambier_time():
    phone = normalise("+689 87 12 34 56")
    assert phone.time_zone == "Pacific/Tahiti"
    # Monday 30 November 2026, 09:30 in Tahiti is 10:30 in the Gambier islands
    assert not is_callable(_at(date(2026, 11, 30), 9, "Pacific/Tahiti") + timedelta(minutes=30),
                           phone.time_zone, regions=plan_regions(phone.e164))


def test_shared_ranges_close_on_the_holidays_of_every_territory_that_may_hold_the_number():
    # 0590 27 is in both Saint-Barthélemy's and Saint-Martin's plans
    assert plan_regions("+590590271234") == ("BL", "MF")
    assert calendar_of("America/Guadeloupe", ("BL", "MF")) == ("BL", "MF")
    for day in (date(2026, 10, 9), date(2026, 5, 28)):        # BL's, then MF's
        assert not is_callable(_at(day, 11, "America/Guadeloupe"), "America/Guadeloupe",
                               regions=("BL", "MF"))
    # a number no French territory holds keeps the calendar of its zone
    assert calendar_of("Pacific/Marquesas", ("BE",)) == ("PF",)
    assert calendar_of("Europe/Paris", ("FR",)) == (None,)


def test_explicit_time_zone_column_overrides_the_numbers_zone(db, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("tel;fuseau horaire\n"
                    "+689 87 12 34 56;Pacific/Marquesas\n"
                    "+689 87 12 34 57;\n"
                    "+689 87 12 34 58;Mars/Olympus\n", encoding="utf-8")
    summary = import_contacts(db, path, "k", ImportOptions(today=date(2026, 6, 1)))
    assert dict(summary.rejected) == {"bad-time-zone": 1}
    with db.session() as s:
        zones = dict(s.execute(select(Contact.e164, Contact.time_zone)).all())
    assert zones == {"+68987123456": "Pacific/Marquesas", "+68987123457": "Pacific/Tahiti"}


def test_a_window_without_holidays_does_not_close_one_with_them():
    armistice = _at(date(2026, 11, 11), 11, "Europe/Paris")      # a Wednesday
    weekdays = parse_window("mon-fri 10:00-13:00")
    holiday_ok = parse_window("wed 10:00-12:00 +holidays")
    assert is_callable(armistice, "Europe/Paris", (weekdays, holiday_ok))
    assert is_callable(armistice, "Europe/Paris", (holiday_ok, weekdays))
    # at 12:30 only the window without +holidays is open: closed on the holiday
    assert not is_callable(armistice + timedelta(minutes=90), "Europe/Paris",
                           (weekdays, holiday_ok))


def _claimed(db, raw: str, zone: str | None, at: datetime) -> bool:
    phone = normalise(raw)
    with db.session() as s:
        for name in ("m", "n"):
            s.add(AudioAsset(name=name, sha256=hashlib.sha256(b"x").hexdigest(),
                             duration_ms=1000, source_filename="x", data=b"x"))
        s.flush()
        campaign = create_campaign(s, "overseas", message="m", notice="n",
                                   retry_policy=NO_RETRY, status="running", cps=100,
                                   compliance_profile="basic")
        contact = Contact(e164=phone.e164, time_zone=zone or phone.time_zone)
        s.add(contact)
        s.flush()
        queue_contacts(s, campaign, [contact.id])
        cid = campaign.id
    with db.session() as s:
        claimed = claim_next(s, cid, [NodeSlot("n1", 10)], "c1", now=at.timestamp())
        state = s.scalars(select(CallAttempt.state)).one()
    assert state == ("originating" if isinstance(claimed, Claim) else "queued")
    return isinstance(claimed, Claim)


def test_the_claim_keeps_saint_barthelemy_off_its_own_holiday(db):
    # 9 October 2026: Saint-Barthélemy's abolition day; Guadeloupe works
    assert not _claimed(db, "+590 590 27 12 34", None, _at(date(2026, 10, 9), 11,
                                                           "America/Guadeloupe"))


def test_the_claim_keeps_polynesia_off_its_own_holiday_even_with_an_old_zone(db):
    # a contact imported before the fix holds Pacific/Gambier; 5 March is Missionary Day
    assert not _claimed(db, "+689 87 12 34 56", "Pacific/Gambier",
                        _at(date(2026, 3, 5), 11, "Pacific/Tahiti"))
