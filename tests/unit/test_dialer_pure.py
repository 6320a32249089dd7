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
