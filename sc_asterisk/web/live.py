"""A campaign's live figures, shared by every viewer: a hundred open consoles cost the
database what one does.

Attempts by state come from the claim's index alone (cheap at any size) and are recomputed
every *every* seconds. Outcomes and opt-outs read the campaign's call records, whose cost grows
with the campaign: they are recomputed at most every ``max(every, COST_FACTOR x their last
cost)``, so the live view never takes more than a tenth of one database core (200,000 calls:
~0.2 s, refreshed every ~2 s; the states still every second).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from ..dialer.campaigns import attempt_states, get_campaign, outcome_counts
from ..dialer.states import INFLIGHT_STATES, OPEN_STATES

COST_FACTOR = 10


@dataclass
class _Entry:
    figures: dict
    at: float                  # when the states were counted (the cache's clock)
    outcomes: dict
    outcomes_at: float
    outcomes_every: float


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
                    cost = self._clock() - started
                    self.outcomes_computed += 1
                    entry = _Entry({}, now, outcomes, now,
                                   max(self.every, COST_FACTOR * cost))
                figures = _figures(campaign, states, entry.outcomes)
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
            "computed_at": datetime.now(timezone.utc)}
