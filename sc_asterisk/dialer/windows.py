"""Legal calling windows, evaluated in the callee's time zone (never the server's).

Default profile for France: Monday–Friday, 10:00–13:00 and 14:00–20:00, never on a public
holiday of the callee's territory (the ``holidays`` package, overseas départements included),
intersected with the slot the contact consented to when there is one. Pure functions over an
injected "now", so every rule is testable without waiting for a clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from ..errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FR_DAYS = {"lun": 0, "mar": 1, "mer": 2, "jeu": 3, "ven": 4, "sam": 5, "dim": 6}

# The holidays package's subdivisions of France for the overseas time zones.
_FR_SUBDIV_BY_TZ = {
    "America/Guadeloupe": "971", "America/Martinique": "972", "America/Cayenne": "973",
    "Indian/Reunion": "974", "Indian/Mayotte": "976", "America/St_Barthelemy": "BL",
    "America/Marigot": "MF", "America/Miquelon": "PM", "Pacific/Noumea": "NC",
    "Pacific/Tahiti": "PF", "Pacific/Wallis": "WF",
}


@dataclass(frozen=True)
class Window:
    """Days of the week (0 = Monday) and local time ranges [start, end)."""

    days: frozenset[int]
    ranges: tuple[tuple[time, time], ...]
    skip_holidays: bool = True

    def allows(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        t = local.time()
        return any(start <= t < end for start, end in self.ranges)


FRANCE_DEFAULT = Window(frozenset(range(5)), ((time(10), time(13)), (time(14), time(20))))


ALWAYS = Window(frozenset(range(7)), ((time(0), time(23, 59, 59, 999999)),), skip_holidays=False)


def parse_window(text: str) -> Window:
    """Parse ``mon-fri 10:00-13:00,14:00-20:00`` (French day names work too: ``lun-ven``;
    seconds are allowed: ``10:00:30``). A trailing ``+holidays`` lets the window apply on public
    holidays too. ``always`` means no restriction at all: only for the lab's simulated callees.

    >>> parse_window("mon-fri 10:00-13:00").ranges[0][1]
    datetime.time(13, 0)
    """
    if text.strip().lower() == "always":
        return ALWAYS
    text, on_holidays = re.subn(r"\s+\+holidays\s*$", "", text.lower())
    m = re.fullmatch(r"\s*([a-z]{3})(?:-([a-z]{3}))?\s+(.+?)\s*", text)
    if not m:
        raise ConfigError(f"bad calling window {text!r}",
                          fix="write it as DAY[-DAY] HH:MM-HH:MM[,HH:MM-HH:MM], e.g. mon-fri 10:00-13:00")
    first, last = (_day(m.group(1)), _day(m.group(2) or m.group(1)))
    days = frozenset(range(first, last + 1)) if first <= last else \
        frozenset(list(range(first, 7)) + list(range(0, last + 1)))
    ranges = []
    for part in m.group(3).split(","):
        rm = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})(?::(\d{2}))?\s*-\s*"
                          r"(\d{1,2})[:h](\d{2})(?::(\d{2}))?\s*", part)
        if not rm:
            raise ConfigError(f"bad time range {part!r} in calling window",
                              fix="use HH:MM-HH:MM, e.g. 14:00-20:00")
        h1, m1, s1, h2, m2, s2 = (int(g or 0) for g in rm.groups())
        if not (h1 < 24 and h2 <= 24 and max(m1, m2, s1, s2) < 60):
            raise ConfigError(f"bad time in {part!r}", fix="hours 0-24, minutes 0-59")
        start = time(h1, m1, s1)
        end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2, s2)
        if start >= end:
            raise ConfigError(f"empty time range {part!r}", fix="the end must come after the start")
        ranges.append((start, end))
    return Window(days, tuple(ranges), skip_holidays=not on_holidays)


def _day(name: str) -> int:
    if name in DAYS:
        return DAYS.index(name)
    if name in FR_DAYS:
        return FR_DAYS[name]
    raise ConfigError(f"unknown day {name!r}", fix="use mon..sun or lun..dim")


@lru_cache(maxsize=256)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Paris")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


@lru_cache(maxsize=64)
def _holidays(tz_name: str | None, year: int):
    return holidays.France(subdiv=_FR_SUBDIV_BY_TZ.get(tz_name or ""), years=year)


def is_callable(now_utc: datetime, tz_name: str | None, windows: tuple[Window, ...] = (FRANCE_DEFAULT,),
                consent_slot: str | None = None) -> bool:
    """True when a call may start now for a callee in *tz_name*.

    Example: ``is_callable(datetime.now(timezone.utc), "Indian/Reunion")``
    """
    local = now_utc.astimezone(_zone(tz_name))
    if not any(w.allows(local) for w in windows):
        return False
    if any(w.skip_holidays for w in windows) and local.date() in _holidays(tz_name, local.year):
        return False
    if consent_slot:
        return parse_window(consent_slot).allows(local)
    return True


def next_opening(now_utc: datetime, tz_name: str | None,
                 windows: tuple[Window, ...] = (FRANCE_DEFAULT,), consent_slot: str | None = None,
                 step: timedelta = timedelta(minutes=1), horizon: timedelta = timedelta(days=15)
                 ) -> datetime | None:
    """The first minute at or after *now_utc* when :func:`is_callable` holds (None if none soon)."""
    t = now_utc.replace(second=0, microsecond=0)
    if is_callable(now_utc, tz_name, windows, consent_slot):
        return now_utc
    end = now_utc + horizon
    while t <= end:
        t += step
        if is_callable(t, tz_name, windows, consent_slot):
            return t
    return None

