"""A campaign's live figures, shared by every viewer: a hundred open consoles cost the
database what one does.

Attempts by state come from the claim's index alone (cheap at any size) and are recomputed
every *every* seconds; calls/s is the change in dialed attempts between those counts over the
last ``RATE_WINDOW_S`` (no query of its own). Outcomes, opt-outs and the listen rate read the
campaign's call records and listens, whose cost grows with the campaign: they are recomputed at
most every ``max(every, COST_FACTOR x their last cost)``, so the live view never takes more than
a tenth of one database core (200,000 calls: ~0.2 s, refreshed every ~2 s; the states still
every second). The retention curve (the report's, a PNG) likewise: ``RetentionCache``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..dialer.campaigns import attempt_states, get_campaign, heard_at_least, outcome_counts
from ..dialer.states import INFLIGHT_STATES, OPEN_STATES, AttemptState

COST_FACTOR = 10
RATE_WINDOW_S = 10.0        # calls/s: dialed attempts over about the last 10 seconds
MIN_LISTEN_S = 10           # the listen rate's threshold: the report's default (--min-listen)
RETENTION_EVERY_S = 30.0    # the retention curve is redrawn at most this often
# Attempts that never left the queue for the network: the rest were dialed.
_NOT_DIALED = (AttemptState.QUEUED, AttemptState.SKIPPED, AttemptState.CANCELLED)


@dataclass
class _Entry:
    figures: dict
    at: float                  # when the states were counted (the cache's clock)
    outcomes: dict
    outcomes_at: float
    outcomes_every: float
    dialed: list[tuple[float, int]] = field(default_factory=list)   # (when, dialed) samples


class LiveCache:
    """Figures per campaign, by name. Example::

        cache = LiveCache(every=1.0)
        cache.get(db, "muni")["in_flight"]
    """

    def __init__(self, every: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.every, self._clock = every, clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self.computed = 0              # state counts done (tests, metrics)
        self.outcomes_computed = 0     # outcome counts done

    def get(self, db, name: str) -> dict:
        """The figures of campaign *name* (NotFound if there is none)."""
        with self._lock:               # one computation at a time: viewers wait, not redo it
            now = self._clock()
            entry = self._entries.get(name)
            if entry is not None and now - entry.at < self.every:
                return entry.figures
            with db.session() as s:
                campaign = get_campaign(s, name)
                states = attempt_states(s, campaign)
                self.computed += 1
                if entry is None or now - entry.outcomes_at >= entry.outcomes_every:
                    started = self._clock()
                    outcomes = outcome_counts(s, campaign)
                    outcomes["heard_min"] = heard_at_least(s, campaign, MIN_LISTEN_S)
                    cost = self._clock() - started
                    self.outcomes_computed += 1
                    entry = _Entry({}, now, outcomes, now,
                                   max(self.every, COST_FACTOR * cost),
                                   entry.dialed if entry is not None else [])
                figures = _figures(campaign, states, entry.outcomes)
            figures["calls_per_s"] = _rate(entry.dialed, now, sum(
                n for state, n in states.items() if state not in _NOT_DIALED))
            entry.figures, entry.at = figures, now
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[name] = entry
            return figures


def _figures(campaign, states, counted: dict) -> dict:
    total = sum(states.values())
    outcomes = counted["outcomes"]
    return {"name": campaign.name, "status": campaign.status, "total": total,
            "done": total - sum(states.get(x, 0) for x in OPEN_STATES),
            "in_flight": sum(states.get(x, 0) for x in INFLIGHT_STATES),
            "states": {str(k): v for k, v in states.items()},
            "outcomes": {str(k): v for k, v in outcomes.items() if k is not None},
            "answered": outcomes.get("answered", 0), "opted_out": counted["opted_out"],
            "heard_min": counted["heard_min"], "min_listen_s": MIN_LISTEN_S,
            "listen_rate": _percent(counted["heard_min"], outcomes.get("answered", 0)),
            "computed_at": datetime.now(timezone.utc)}


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _rate(samples: list[tuple[float, int]], now: float, dialed: int) -> float | None:
    """Dialed attempts per second since the oldest sample of the last RATE_WINDOW_S (None
    until there are two samples); records this one."""
    samples.append((now, dialed))
    while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
        samples.pop(0)
    first_at, first = samples[0]
    return round((dialed - first) / (now - first_at), 1) if now > first_at else None


class RetentionCache:
    """The retention curve's PNG per campaign, drawn at most every ``max(RETENTION_EVERY_S,
    COST_FACTOR x the last drawing's cost)``: the live page shows it without a full read of
    the campaign's records at every refresh. Example::

        png = cache.get(("muni", 10), lambda: draw("muni"))
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[object, tuple[bytes, float, float]] = {}
        self.drawn = 0

    def get(self, key, draw: Callable[[], bytes]) -> bytes:
        with self._lock:
            now = self._clock()
            found = self._entries.get(key)
            if found is not None and now - found[1] < found[2]:
                return found[0]
            png = draw()
            cost = self._clock() - now
            self.drawn += 1
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[key] = (png, now, max(RETENTION_EVERY_S, COST_FACTOR * cost))
            return png
