"""Smooth pacing: the token bucket arithmetic, pure (the time is given, never read).

The live buckets are rows shared by every controller (``db.dialer_queries.lock_buckets`` fetches
them row-locked); this module only says what a bucket holds at a given time.
"""
from __future__ import annotations

from dataclasses import dataclass

# A claim comes a few milliseconds after its token is due (the database round trip). The bucket
# holds that much more than one token, so the lateness is made up on the next call instead of
# slowing the campaign down; two calls are never closer than (1/rate - PACING_GRACE_S).
PACING_GRACE_S = 0.02
# A claim made for the very instant its token is due (dialer.scheduler.CLAIM_LEAD_S) may find
# it a rounding error short (epoch seconds carry ~0.2 µs): a token due this soon is there.
DUE_NOW_S = 1e-5


@dataclass(frozen=True)
class Bucket:
    """At most *rate* events per second, no bursts: *tokens* held at time *stamp* (seconds).

    Example::

        bucket = Bucket(tokens=1.0, stamp=now)
        if bucket.wait(rate, now) == 0:
            bucket = bucket.take(rate, now)
    """

    tokens: float
    stamp: float

    def tokens_at(self, rate: float, now: float) -> float:
        """What the bucket holds at *now* (a clock going back adds nothing)."""
        return min(1.0 + rate * PACING_GRACE_S, self.tokens + max(0.0, now - self.stamp) * rate)

    def wait(self, rate: float, now: float) -> float:
        """Seconds from *now* until the bucket has a token (0: one is available now).

        >>> Bucket(0.0, 10.0).wait(rate=4, now=10.0)
        0.25
        """
        tokens = self.tokens_at(rate, now)
        wait = (1.0 - tokens) / rate
        return 0.0 if wait <= DUE_NOW_S else wait

    def take(self, rate: float, now: float) -> "Bucket":
        """The bucket after one token is taken at *now*.

        >>> Bucket(1.0, 10.0).take(rate=4, now=10.0)
        Bucket(tokens=0.0, stamp=10.0)
        """
        return Bucket(self.tokens_at(rate, now) - 1.0, now)
