"""A campaign's live figures, computed at most once per interval for every viewer together:
a hundred open consoles cost the database what one does."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

from ..dialer.campaigns import get_campaign, status_counts
from ..dialer.states import INFLIGHT_STATES, OPEN_STATES


def live_status(s, name: str) -> dict:
    """The live figures of campaign *name*: states, outcomes, answered, opt-outs.

    Example: ``live_status(s, "muni")["in_flight"]``
    """
    campaign = get_campaign(s, name)
    counts = status_counts(s, campaign)
    states, outcomes = counts["states"], counts["outcomes"]
    total = sum(states.values())
    return {"name": campaign.name, "status": campaign.status, "total": total,
            "done": total - sum(states.get(x, 0) for x in OPEN_STATES),
            "in_flight": sum(states.get(x, 0) for x in INFLIGHT_STATES),
            "states": {str(k): v for k, v in states.items()},
            "outcomes": {str(k): v for k, v in outcomes.items() if k is not None},
            "answered": outcomes.get("answered", 0), "opted_out": counts["opted_out"],
            "computed_at": datetime.now(timezone.utc)}


class LiveCache:
    """Figures per campaign, recomputed when older than *every* seconds. Example::

        cache = LiveCache(every=1.0)
        figures = cache.get(db, "muni")
    """

    def __init__(self, every: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.every, self._clock = every, clock
        self._lock = threading.Lock()
        self._figures: dict[str, tuple[float, dict]] = {}
        self.computed = 0          # how many times the database was asked (tests, metrics)

    def get(self, db, name: str) -> dict:
        with self._lock:           # one computation at a time: viewers wait for it, not redo it
            now = self._clock()
            cached = self._figures.get(name)
            if cached is not None and now - cached[0] < self.every:
                return cached[1]
            with db.session() as s:
                figures = live_status(s, name)
            self.computed += 1
            if len(self._figures) > 1000:
                self._figures.clear()
            self._figures[name] = (now, figures)
            return figures
