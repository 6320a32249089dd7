"""What each callee does, drawn at random from a seeded model: answer or not (busy, no answer),
how long it rings, how much of the script it hears (all of it, or it hangs up at a point drawn
uniformly over the script), whether it presses the opt-out digit. Pure: no I/O.

Example::

    model = CallModel(answer_ratio=0.7, time_scale=0.01)
    fate = model.draw(random.Random(1))
    fate.answered, fate.ring_s, fate.listen_fraction
"""
from __future__ import annotations

import random
from dataclasses import dataclass

# Q.850 cause, its text and the OriginateResponse reason of a call never answered, as Asterisk
# 22 sends them (recorded in the lab against SIPp callees, bench/README.md).
BUSY = (17, "User busy", 0)
NO_ANSWER = (19, "User alerting, no answer", 3)


@dataclass(frozen=True)
class Fate:
    answered: bool
    ring_s: float                    # call seconds of ringing before the answer
    cause: tuple[int, str, int] | None = None   # unanswered: (cause, text, reason)
    listen_fraction: float = 1.0     # of the whole script; 1.0: heard to the end
    opts_out: bool = False


@dataclass(frozen=True)
class CallModel:
    """*time_scale*: wall seconds per call second (0.01: a 60 s message plays in 0.6 s)."""

    answer_ratio: float = 0.7
    busy_ratio: float = 0.3          # of the calls not answered
    ring_s: tuple[float, float] = (2.0, 12.0)
    full_listen_ratio: float = 0.6   # of the answered calls
    optout_ratio: float = 0.0        # of the answered calls
    time_scale: float = 0.01

    def __post_init__(self):
        for name in ("answer_ratio", "busy_ratio", "full_listen_ratio", "optout_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0.0 < self.time_scale <= 1.0:
            raise ValueError("time_scale must be in (0, 1]")

    def draw(self, rng: random.Random) -> Fate:
        ring = rng.uniform(*self.ring_s)
        if rng.random() >= self.answer_ratio:
            return Fate(False, ring, BUSY if rng.random() < self.busy_ratio else NO_ANSWER)
        if rng.random() < self.optout_ratio:
            return Fate(True, ring, listen_fraction=rng.random(), opts_out=True)
        full = rng.random() < self.full_listen_ratio
        return Fate(True, ring, listen_fraction=1.0 if full else rng.random())

    def wall(self, seconds: float) -> float:
        """Wall-clock seconds for *seconds* of call time."""
        return seconds * self.time_scale
