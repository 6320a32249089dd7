from sc_asterisk.dialer.outcomes import outcome_for
from sc_asterisk.dialer.pacing import TokenBucket


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
    clock = Clock()
    bucket = TokenBucket(rate=4, clock=clock)
    starts = []
    for _ in range(9):
        clock.t += bucket.delay()
        bucket.take()
        starts.append(clock.t)
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps == [0.25] * 8           # evenly spaced, no burst
    assert starts[-1] == 2.0            # 8 intervals at 4/s


def test_token_bucket_does_not_bank_idle_time_beyond_burst():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    clock.t = 100.0
    bucket.take()
    bucket.take()
    assert bucket.delay() == 0.1


def test_shared_bucket_makes_up_for_a_late_claim_without_bursting():
    from sc_asterisk.db.dialer_queries import PACING_GRACE_S, bucket_take, bucket_wait
    from sc_asterisk.db.models import PaceBucket
    bucket = PaceBucket(scope="campaign:1", tokens=1.0, stamp=0.0)
    rate, t, starts = 20.0, 0.0, []
    for i in range(41):
        t += bucket_wait(bucket, rate, t)
        t += 0.012 if i % 2 else 0.0          # every other claim arrives 12 ms late
        bucket_take(bucket, rate, t)
        starts.append(t)
    # the average rate holds (lateness made up) ...
    assert abs((len(starts) - 1) / (starts[-1] - starts[0]) - rate) / rate < 0.02
    # ... and no two calls are ever closer than the interval minus the grace
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 1 / rate - PACING_GRACE_S - 1e-9
