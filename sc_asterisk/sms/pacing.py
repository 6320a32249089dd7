"""The pace of submissions on one SMPP bind: a rate that halves when the SMSC says it is
throttled (ESME_RTHROTTLED, ESME_RMSGQFUL) and climbs back by a twentieth of the nominal
rate per accepted message. Pure arithmetic over an injected clock.
"""
from __future__ import annotations

import time
from typing import Callable


class Pacer:
    """Example::

        pacer = Pacer(10.0)             # 10 messages a second at most
        time.sleep(pacer.delay()); pacer.sent()
        pacer.throttled()               # the SMSC refused: 5 a second now
    """

    def __init__(self, rate_per_s: float, min_rate_per_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if not rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        self.nominal = float(rate_per_s)
        self.floor = min(self.nominal, min_rate_per_s or max(self.nominal / 64, 0.2))
        self.rate = self.nominal
        self._clock = clock
        self._next_at = clock()

    def delay(self) -> float:
        """Seconds to wait before the next submission may leave."""
        return max(0.0, self._next_at - self._clock())

    def sent(self) -> None:
        self._next_at = max(self._clock(), self._next_at) + 1.0 / self.rate

    def throttled(self) -> None:
        """The SMSC asked us to slow down: half the rate, and wait one new interval."""
        self.rate = max(self.floor, self.rate / 2)
        self._next_at = max(self._next_at, self._clock() + 1.0 / self.rate)

    def accepted(self) -> None:
        self.rate = min(self.nominal, self.rate + self.nominal / 20)
