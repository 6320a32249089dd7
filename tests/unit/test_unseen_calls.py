"""Calls whose end went unseen (the AMI link was down) are ``unknown``, never ``failed`` and
never retried; they keep their channel slot until Asterisk confirms the channel gone; and
attempts stuck in flight are swept (issue 13, findings 4 and 9). Real SQLite, default retry
policy."""
import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, Campaign, Contact
from sc_asterisk.dialer.calls import CallTracker, Flight
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.claim import Claim, NodeSlot, Wait, claim_next
from sc_asterisk.dialer.finish import finish_attempt
from sc_asterisk.dialer.reconcile import (CHANNEL_APPEARS_MS, STALE_MS, UNFOLLOWED_GRACE_MS,
                                          resync, sweep, take_orphans)
from sc_asterisk.dialer.states import AttemptState, OriginateResult
from sc_asterisk.errors import AmiError

NOW = 1_800_000_000_000


def _campaign(s, name="unseen", max_channels=10) -> Campaign:
    """A running campaign with the production retry policy (retries on)."""
    if s.scalar(select(AudioAsset).where(AudioAsset.name == "m")) is None:
        for asset in ("m", "n"):
            s.add(AudioAsset(name=asset, sha256=asset * 64, duration_ms=1000,
                             source_filename="x", data=b""))
        s.flush()
    campaign = create_campaign(s, name, message="m", notice="n", windows="always",
                               status="running", compliance_profile="basic",
                               max_channels=max_channels)
    assert campaign.retry_policy is None            # the default policy: failed is retried
    return campaign


def _attempt(s, campaign, state, *, controller="c1", node="n1", originate_ms=NOW,
             direction="outbound", number="+33199000000") -> str:
    attempt = CallAttempt(campaign_id=campaign.id, number=number, state=state,
                          controller=controller, node=node, trunk="lab")
    s.add(attempt)
    s.flush()
    if direction == "inbound":
        s.add(CallRecord(attempt_id=attempt.id, direction="inbound", outcome="answered",
                         answer_ms=originate_ms))
    else:
        s.add(CallRecord(attempt_id=attempt.id, originate_ms=originate_ms))
    return attempt.id


def _dialed(db) -> Flight:
    with db.session() as s:
        attempt_id = _attempt(s, _campaign(s), AttemptState.ORIGINATING)
    return Flight(Claim(attempt_id, "+33199000000", "n1", "lab", None, 30, 0))


def _state(db, attempt_id):
    with db.session() as s:
        attempt = s.get(CallAttempt, attempt_id)
        return attempt.state, s.get(CallRecord, attempt_id).outcome, attempt.channel_gone_ms


def _attempts(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(CallAttempt))


# -- finding 4: a call lost before answer -------------------------------------------------------
def test_a_call_lost_while_the_link_was_down_is_unknown_and_never_retried(db):
    """Its channel vanished while the AMI link was down (the resync found it gone): on main it
    became ``failed`` and a retry was queued for 5 minutes later."""
    flight = _dialed(db)
    CallTracker().gone(flight)
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "c1") == "unknown"
    state, outcome, gone_ms = _state(db, flight.attempt_id)
    assert (state, outcome) == ("unknown", "unknown")
    assert gone_ms is not None                   # Asterisk said the channel is gone: slot free
    assert _attempts(db) == 1                    # no retry


def test_a_call_never_heard_of_again_is_unknown_and_keeps_its_slot(db):
    """No OriginateResponse, no Hangup (the link stayed down longer than the ring timeout):
    not ``failed`` (retried), but ``unknown``, its slot held until Asterisk says."""
    flight = _dialed(db)                         # follow() timed out: no event at all
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "c1") == "unknown"
    assert _state(db, flight.attempt_id) == ("unknown", "unknown", None)
    assert _attempts(db) == 1


def test_an_end_asterisk_reported_is_still_classified_and_retried(db):
    flight = _dialed(db)
    flight.reason, flight.end_seen = 3, True     # OriginateResponse: rang out
    with db.session() as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "c1") == "no_answer"
    assert _attempts(db) == 2                    # the default policy retries no_answer


class FlakyAmi:
    """An AMI link whose CoreShowChannels fails *failures* times, then lists *live*."""

    def __init__(self, failures, live, connections=2):
        self.failures, self.live, self.connections = failures, live, connections
        self.connected = True
        self.asked = 0
        self.seen_before_success = []

    async def live_channels(self):
        self.asked += 1
        if self.asked <= self.failures:
            self.seen_before_success.append(self.tracker_snapshot())
            raise AmiError("CoreShowChannels got no answer in time", fix="-")
        return self.live

    def tracker_snapshot(self):
        return {a: f.hung_up.is_set() for a, f in self.tracker.flights.items()}


def test_resync_without_a_channel_list_changes_nothing_and_asks_again():
    """On main, a failed CoreShowChannels after a reconnect settled every call of the node."""
    tracker = CallTracker()
    ami = FlakyAmi(failures=2, live={"ringing": "Ringing"})
    ami.tracker = tracker
    flights = {}
    for attempt_id, connection in (("ended", 1), ("ringing", 1), ("new", 2)):
        flights[attempt_id] = Flight(Claim(attempt_id, "+33199000000", "n1", "lab", None, 30, 0),
                                     connection=connection)
        tracker.flights[attempt_id] = flights[attempt_id]

    asyncio.run(resync(tracker, "n1", ami, retry_s=0))
    assert ami.asked == 3
    assert all(not hung for snap in ami.seen_before_success for hung in snap.values())
    assert flights["ended"].lost and flights["ended"].hung_up.is_set()     # gone: settled
    assert not flights["ringing"].hung_up.is_set()                         # still ringing
    assert not flights["new"].hung_up.is_set()       # sent on the new link: its events count


def test_resync_gives_way_to_a_newer_login():
    tracker = CallTracker()
    ami = FlakyAmi(failures=10, live={})
    ami.tracker = tracker
    flight = Flight(Claim("a", "+33199000000", "n1", "lab", None, 30, 0), connection=1)
    tracker.flights["a"] = flight

    async def main():
        task = asyncio.create_task(resync(tracker, "n1", ami, retry_s=0))
        while ami.asked < 2:
            await asyncio.sleep(0)
        ami.connections = 3                       # the link dropped and logged in again
        await task

    asyncio.run(main())
    assert ami.asked == 2 and not flight.hung_up.is_set()


# -- finding 9: unknown calls hold their slot, stale rows are swept ------------------------------
def test_an_unknown_call_holds_its_channel_slot_until_asterisk_confirms_it_gone(db):
    with db.session() as s:
        campaign = _campaign(s, max_channels=1)
        unknown = _attempt(s, campaign, AttemptState.UNKNOWN)   # e.g. an Originate answered late
        contact = Contact(e164="+33199000001", time_zone="Europe/Paris")
        s.add(contact)
        s.flush()
        queue_contacts(s, campaign, [contact.id])
        cid = campaign.id

    def claim():
        with db.session() as s:
            return claim_next(s, cid, [NodeSlot("n1", 10)], "c2")

    assert claim() == Wait(None)                  # it may still ring: the campaign is full
    later = NOW + CHANNEL_APPEARS_MS + 1
    with db.session() as s:                       # too young: its channel may not exist yet
        assert sweep(s, "c2", {"n1": {}}, set(), NOW + 1000) == []
    assert _state(db, unknown)[2] is None
    with db.session() as s:                       # the node's channel list no longer has it
        assert sweep(s, "c2", {"n1": {}}, set(), later) == []
    assert _state(db, unknown)[2] == later
    assert isinstance(claim(), Claim)


def test_the_sweep_confirms_unknown_channels_only_when_asterisk_can_say(db):
    with db.session() as s:
        campaign = _campaign(s)
        old_enough = NOW - CHANNEL_APPEARS_MS - 1
        listed = _attempt(s, campaign, AttemptState.UNKNOWN, originate_ms=old_enough)
        unlisted = _attempt(s, campaign, AttemptState.UNKNOWN, originate_ms=old_enough)
        silent_node = _attempt(s, campaign, AttemptState.UNKNOWN, node="n2",
                               originate_ms=old_enough)
        old = _attempt(s, campaign, AttemptState.UNKNOWN, node="gone-node",
                       originate_ms=NOW - STALE_MS - 1)
    with db.session() as s:
        sweep(s, "c1", {"n1": {listed: "Ringing"}, "n2": None}, set(), NOW)
    assert _state(db, listed)[2] is None          # still ringing: still counted
    assert _state(db, unlisted)[2] == NOW
    assert _state(db, silent_node)[2] is None     # the node cannot say now: try later
    assert _state(db, old)[2] == NOW              # no node can say, and no call lasts an hour


def test_a_dead_controllers_call_its_node_no_longer_lists_frees_its_slot_at_once(db):
    """kill -9 of the controller: the successor finds its calls gone from the node's channel
    list. They are ``unknown`` (never redialed), and their slots are free as soon as the node
    said so, or the campaign would stall until a later sweep (the campaign here has 2
    channels, both held by the dead controller's calls)."""
    sent = NOW - CHANNEL_APPEARS_MS - 1
    with db.session() as s:
        campaign = _campaign(s, max_channels=2)
        gone = _attempt(s, campaign, AttemptState.RINGING, controller="dead", originate_ms=sent)
        young = _attempt(s, campaign, AttemptState.ORIGINATING, controller="dead",
                         number="+33199000002", originate_ms=NOW - 1000)
        contact = Contact(e164="+33199000001", time_zone="Europe/Paris")
        s.add(contact)
        s.flush()
        queue_contacts(s, campaign, [contact.id])
        cid = campaign.id
    with db.session() as s:
        assert take_orphans(s, "c2", NOW - 10_000, {"n1": {}}, NOW) == []
    assert _state(db, gone) == ("unknown", "unknown", NOW)       # confirmed gone: slot free
    assert _state(db, young) == ("unknown", "unknown", None)     # may not exist yet: held
    with db.session() as s:
        claimed = claim_next(s, cid, [NodeSlot("n1", 10)], "c2")
    assert isinstance(claimed, Claim) and claimed.number == "+33199000001"
    assert _attempts(db) == 3                                    # and nothing was redialed


def test_an_inbound_callback_left_answered_by_a_crash_is_swept_after_the_bound(db):
    with db.session() as s:
        campaign = _campaign(s)
        stale = _attempt(s, campaign, AttemptState.ANSWERED, controller=None, node=None,
                         direction="inbound", originate_ms=NOW - STALE_MS - 1)
        live = _attempt(s, campaign, AttemptState.ANSWERED, controller=None, node=None,
                        direction="inbound", originate_ms=NOW - 60_000)
    with db.session() as s:
        sweep(s, "c1", {"n1": {}}, set(), NOW)
    assert _state(db, stale) == ("unknown", "answered", NOW)    # settled, slot released
    assert _state(db, live)[0] == "answered"                     # a call may still be on


def test_a_call_whose_end_could_not_be_written_is_swept_once_its_channel_is_gone(db):
    """The finish write failed (not an OperationalError): the row stayed ``originating``,
    held by this live controller, for ever."""
    old = NOW - UNFOLLOWED_GRACE_MS - 1
    with db.session() as s:
        campaign = _campaign(s)
        stuck = _attempt(s, campaign, AttemptState.ORIGINATING, originate_ms=old)
        up = _attempt(s, campaign, AttemptState.ANSWERED, originate_ms=old)
        followed = _attempt(s, campaign, AttemptState.RINGING, originate_ms=old)
        just_claimed = _attempt(s, campaign, AttemptState.ORIGINATING, originate_ms=NOW - 10)
        other = _attempt(s, campaign, AttemptState.RINGING, controller="c2", originate_ms=old)
    with db.session() as s:
        adopt = sweep(s, "c1", {"n1": {up: "Up"}}, {followed}, NOW)
    assert adopt == [(up, "n1", old)]             # still up: followed again until it ends
    assert _state(db, stuck) == ("unknown", "unknown", NOW)
    assert _state(db, followed)[0] == "ringing"
    assert _state(db, just_claimed)[0] == "originating"   # its Originate may not be out yet
    assert _state(db, other)[0] == "ringing"      # another live controller's: its own sweep
    assert _attempts(db) == 5                     # and nothing is retried


def test_rows_older_than_the_bound_on_a_node_no_one_knows_are_swept(db):
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    with db.session() as s:
        campaign = _campaign(s)
        orphan = _attempt(s, campaign, AttemptState.RINGING, controller=None, node="retired",
                          originate_ms=now - STALE_MS - 1)
        created = datetime.now(timezone.utc) - timedelta(hours=2)
        no_record = CallAttempt(campaign_id=campaign.id, number="+33199000009",
                                state=AttemptState.ANSWERED, created_at=created)
        s.add(no_record)
        s.flush()
        no_record_id = no_record.id
    with db.session() as s:
        sweep(s, "c1", {"n1": {}}, set(), now)
    with db.session() as s:
        assert s.get(CallAttempt, orphan).state == "unknown"
        assert s.get(CallAttempt, no_record_id).state == "unknown"
        assert s.get(CallAttempt, no_record_id).channel_gone_ms is not None
