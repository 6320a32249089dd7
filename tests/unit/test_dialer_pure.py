from sc_asterisk.dialer.outcomes import outcome_for
from sc_asterisk.dialer.pacing import PACING_GRACE_S, Bucket


def test_outcomes_from_causes_and_reasons():
    assert outcome_for(True, 16, 4) == "answered"
    assert outcome_for(False, 17, None) == "busy"
    assert outcome_for(False, 19, 3) == "no_answer"
    assert outcome_for(False, 0, 3) == "no_answer"          # timed out ringing, cause unknown
    assert outcome_for(False, 34, 8) == "unavailable"       # SIP 503
    assert outcome_for(False, 21, 1) == "rejected"          # SIP 603
    assert outcome_for(False, 1, 0) == "invalid_number"
    assert outcome_for(False, None, None) == "failed"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_token_bucket_paces_smoothly():
    clock, rate = Clock(), 4
    bucket = Bucket(tokens=1.0, stamp=clock())
    starts = []
    for _ in range(9):
        clock.t += bucket.wait(rate, clock())
        bucket = bucket.take(rate, clock())
        starts.append(clock.t)
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps == [0.25] * 8           # evenly spaced, no burst
    assert starts[-1] == 2.0            # 8 intervals at 4/s


def test_token_bucket_does_not_bank_idle_time_beyond_the_grace():
    clock, rate = Clock(), 10
    bucket = Bucket(tokens=0.0, stamp=clock())
    clock.t = 100.0                     # idle for 100 s: still one token and the grace, no burst
    assert bucket.tokens_at(rate, clock()) == 1.0 + rate * PACING_GRACE_S
    bucket = bucket.take(rate, clock())
    assert abs(bucket.wait(rate, clock()) - (0.1 - PACING_GRACE_S)) < 1e-9


def test_a_clock_going_back_adds_no_token():
    bucket = Bucket(tokens=0.5, stamp=10.0)
    assert bucket.tokens_at(rate=4, now=9.0) == 0.5
    assert bucket.wait(rate=4, now=9.0) == 0.125


def test_shared_bucket_makes_up_for_a_late_claim_without_bursting():
    bucket = Bucket(tokens=1.0, stamp=0.0)
    rate, t, starts = 20.0, 0.0, []
    for i in range(41):
        t += bucket.wait(rate, t)
        t += 0.012 if i % 2 else 0.0          # every other claim arrives 12 ms late
        bucket = bucket.take(rate, t)
        starts.append(t)
    # the average rate holds (lateness made up) ...
    assert abs((len(starts) - 1) / (starts[-1] - starts[0]) - rate) / rate < 0.02
    # ... and no two calls are ever closer than the interval minus the grace
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 1 / rate - PACING_GRACE_S - 1e-9


def test_a_claim_says_when_the_next_token_is_due_and_the_bucket_still_decides(db):
    """The scheduler sleeps until Claim.next_token_at instead of asking the database for a Wait;
    the hint is exact, and the shared bucket (not the hint) stays the permission."""
    from sc_asterisk.db import AudioAsset, Contact
    from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
    from sc_asterisk.dialer.claim import Claim, NodeSlot, Wait, claim_next
    from sc_asterisk.dialer.retries import NO_RETRY

    with db.session() as s:
        for name in ("m", "n"):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000, source_filename="x",
                             data=b""))
        s.flush()
        campaign = create_campaign(s, "hint", message="m", notice="n", windows="always",
                                   retry_policy=NO_RETRY, status="running", cps=5,
                                   compliance_profile="basic")
        contacts = [Contact(e164=f"+3319900000{i}", time_zone="Europe/Paris") for i in range(3)]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, campaign, [c.id for c in contacts])
        cid = campaign.id

    def claim(at):
        with db.session() as s:
            return claim_next(s, cid, [NodeSlot("n1", 10)], "c1", now=at)

    t = 1_800_000_000.0
    first = claim(t)
    assert isinstance(first, Claim) and abs(first.next_token_at - (t + 0.2)) < 1e-6
    early = claim(first.next_token_at - 0.03)        # beyond the 20 ms grace: too soon
    assert isinstance(early, Wait) and 0 < early.seconds <= 0.03 + 1e-6
    second = claim(first.next_token_at)
    assert isinstance(second, Claim) and second.number != first.number
    assert abs(second.next_token_at - (first.next_token_at + 0.2)) < 1e-6


def test_a_claim_made_for_the_instant_its_token_is_due_gets_it():
    """The scheduler claims ahead, for the instant the last claim said the next token is due
    (Claim.next_token_at): rounding must not leave that token a hair short (a busy loop of
    claims each told to wait 1e-16 s, found in the lab's control-plane count)."""
    for rate in (3.0, 7.0, 10.0, 40.0, 47.0, 100.0):
        bucket, now = Bucket(tokens=1.0, stamp=1765080000.123), 1765080000.123
        for _ in range(200):
            bucket = bucket.take(rate, now)
            now = now + bucket.wait(rate, now)      # exactly the instant it says
            assert bucket.wait(rate, now) == 0.0, (rate, bucket, now)
