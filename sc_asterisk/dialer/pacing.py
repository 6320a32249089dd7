"""Smooth pacing: a token bucket with an injectable clock (no per-minute bursts)."""
from __future__ import annotations

import time
from typing import Callable


class TokenBucket:
    """At most *rate* events per second on average, bursts of at most *burst*.

    Example::

        bucket = TokenBucket(rate=10)
        wait = bucket.delay()      # 0.0 when a token is ready
        bucket.take()
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst, self.clock = rate, max(burst, 1.0), clock
        self.tokens = self.burst
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay(self) -> float:
        """Seconds until one token is available."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1
