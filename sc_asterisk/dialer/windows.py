"""Legal calling windows, evaluated in the callee's time zone (never the server's).

Default profile for France: Monday–Friday, 10:00–13:00 and 14:00–20:00, never on a public
holiday of the callee's territory (the ``holidays`` package, overseas départements included),
intersected with the slot the contact consented to when there is one. Pure functions over an
injected "now", so every rule is testable without waiting for a clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from ..errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FR_DAYS = {"lun": 0, "mar": 1, "mer": 2, "jeu": 3, "ven": 4, "sam": 5, "dim": 6}
# Whole day names too: consent slots are written by people ("samedi 10h-12h").
_FULL_DAYS = {name: i for i, names in enumerate((
    ("monday", "lundi"), ("tuesday", "mardi"), ("wednesday", "mercredi"), ("thursday", "jeudi"),
    ("friday", "vendredi"), ("saturday", "samedi"), ("sunday", "dimanche"))) for name in names}

# The holidays package's subdivision of France for each French territory (ISO region code, as
# phonenumbers names the region of a number); None: the mainland's calendar.
FR_SUBDIV_BY_REGION = {
    "FR": None, "GP": "971", "MQ": "972", "GF": "973", "RE": "974", "YT": "976", "BL": "BL",
    "MF": "MF", "PM": "PM", "NC": "NC", "PF": "PF", "WF": "WF",
}
# The same by time zone, for a callee whose number names no French territory. French Polynesia
# has three zones (Tahiti, the Marquesas, the Gambier islands), all on its one calendar.
_FR_SUBDIV_BY_TZ = {
    "America/Guadeloupe": "971", "America/Martinique": "972", "America/Cayenne": "973",
    "Indian/Reunion": "974", "Indian/Mayotte": "976", "America/St_Barthelemy": "BL",
    "America/Marigot": "MF", "America/Miquelon": "PM", "Pacific/Noumea": "NC",
    "Pacific/Tahiti": "PF", "Pacific/Marquesas": "PF", "Pacific/Gambier": "PF",
    "Pacific/Wallis": "WF",
}
# Reasons an attempt can never be called under its campaign's windows (its call record's outcome).
BAD_CONSENT_SLOT = "bad-consent-slot"
SLOT_OUTSIDE_WINDOWS = "consent-slot-outside-windows"


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

    def meets(self, other: "Window") -> bool:
        """Whether the two windows share a moment of some week (holidays aside)."""
        return bool(self.days & other.days) and any(
            max(a, c) < min(b, d) for a, b in self.ranges for c, d in other.ranges)


@dataclass(frozen=True)
class Never:
    """An attempt that no waiting will make callable; ``reason`` is its recorded outcome."""

    reason: str


FRANCE_DEFAULT = Window(frozenset(range(5)), ((time(10), time(13)), (time(14), time(20))))


ALWAYS = Window(frozenset(range(7)), ((time(0), time(23, 59, 59, 999999)),), skip_holidays=False)


def parse_window(text: str) -> Window:
    """Parse ``mon-fri 10:00-13:00,14:00-20:00`` (French day names work too: ``lun-ven``,
    ``samedi``; seconds are allowed: ``10:00:30``; so is ``10h``/``10h30``). A trailing
    ``+holidays`` lets the window apply on public holidays too. ``always`` means no restriction
    at all: only for the lab's simulated callees.

    >>> parse_window("mon-fri 10:00-13:00").ranges[0][1]
    datetime.time(13, 0)
    """
    if text.strip().lower() == "always":
        return ALWAYS
    text, on_holidays = re.subn(r"\s+\+holidays\s*$", "", text.lower())
    m = re.fullmatch(r"\s*([a-z]{3,9})(?:\s*-\s*([a-z]{3,9}))?\s+(.+?)\s*", text)
    if not m:
        raise ConfigError(f"bad calling window {text!r}",
                          fix="write it as DAY[-DAY] HH:MM-HH:MM[,HH:MM-HH:MM], e.g. mon-fri 10:00-13:00")
    first, last = (_day(m.group(1)), _day(m.group(2) or m.group(1)))
    days = frozenset(range(first, last + 1)) if first <= last else \
        frozenset(list(range(first, 7)) + list(range(0, last + 1)))
    ranges = []
    for part in m.group(3).split(","):
        rm = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2})|h(\d{2})?)(?::(\d{2}))?\s*-\s*"
                          r"(\d{1,2})(?::(\d{2})|h(\d{2})?)(?::(\d{2}))?\s*", part)
        if not rm:
            raise ConfigError(f"bad time range {part!r} in calling window",
                              fix="use HH:MM-HH:MM, e.g. 14:00-20:00")
        h1, c1, f1, s1, h2, c2, f2, s2 = (int(g or 0) for g in rm.groups())
        m1, m2 = c1 or f1, c2 or f2
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
    if name in _FULL_DAYS:
        return _FULL_DAYS[name]
    raise ConfigError(f"unknown day {name!r}", fix="use mon..sun or lun..dim")


@lru_cache(maxsize=256)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Paris")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


def calendar_of(tz_name: str | None, regions: tuple[str, ...] = ()) -> tuple[str | None, ...]:
    """The ``holidays`` subdivisions of France whose public holidays close a callee's day: those
    of every French territory whose numbering plan holds the number (*regions*, as
    :func:`~sc_asterisk.contacts.numbers.plan_regions` gives them), else that of the time zone.
    Territories share number ranges (+590: Guadeloupe, Saint-Barthélemy, Saint-Martin): such a
    number is called on no holiday of any of them, never on one of its own.

    Example: ``calendar_of("America/Guadeloupe", ("BL",)) == ("BL",)``
    """
    subdivs = {FR_SUBDIV_BY_REGION[r] for r in regions if r in FR_SUBDIV_BY_REGION}
    if subdivs:
        return tuple(sorted(subdivs, key=lambda sub: sub or ""))
    return (_FR_SUBDIV_BY_TZ.get(tz_name or ""),)


@lru_cache(maxsize=256)
def _holiday_dates(calendar: tuple[str | None, ...], year: int) -> frozenset[date]:
    return frozenset(day for subdiv in calendar
                     for day in holidays.France(subdiv=subdiv, years=year))


def is_holiday(local: datetime, tz_name: str | None, regions: tuple[str, ...] = ()) -> bool:
    """Whether the callee's local day is a public holiday where they live.

    Example: ``is_holiday(datetime(2026, 3, 5, 10), "Pacific/Tahiti")`` (Missionary Day)
    """
    return local.date() in _holiday_dates(calendar_of(tz_name, regions), local.year)


def is_callable(now_utc: datetime, tz_name: str | None,
                windows: tuple[Window, ...] = (FRANCE_DEFAULT,),
                consent_slot: str | Window | None = None, regions: tuple[str, ...] = ()) -> bool:
    """True when a call may start now for a callee in *tz_name* (whose number's territories are
    *regions*, see :func:`calendar_of`). On a public holiday only a window marked ``+holidays``
    that is open now lets the call start.

    Example: ``is_callable(datetime.now(timezone.utc), "Indian/Reunion")``
    """
    local = now_utc.astimezone(_zone(tz_name))
    open_now = [w for w in windows if w.allows(local)]
    if not open_now:
        return False
    if all(w.skip_holidays for w in open_now) and is_holiday(local, tz_name, regions):
        return False
    if consent_slot:
        slot = parse_window(consent_slot) if isinstance(consent_slot, str) else consent_slot
        return slot.allows(local)
    return True


def next_opening(now_utc: datetime, tz_name: str | None,
                 windows: tuple[Window, ...] = (FRANCE_DEFAULT,),
                 consent_slot: str | Window | None = None,
                 step: timedelta = timedelta(minutes=1), horizon: timedelta = timedelta(days=15),
                 regions: tuple[str, ...] = ()) -> datetime | None:
    """The first minute at or after *now_utc* when :func:`is_callable` holds (None if none soon)."""
    if isinstance(consent_slot, str):
        consent_slot = parse_window(consent_slot)  # once, not once per minute of the horizon
    t = now_utc.replace(second=0, microsecond=0)
    if is_callable(now_utc, tz_name, windows, consent_slot, regions):
        return now_utc
    end = now_utc + horizon
    while t <= end:
        t += step
        if is_callable(t, tz_name, windows, consent_slot, regions):
            return t
    return None


def opening(now_utc: datetime, tz_name: str | None,
            windows: tuple[Window, ...] = (FRANCE_DEFAULT,), consent_slot: str | None = None,
            regions: tuple[str, ...] = ()) -> datetime | Never | None:
    """When a call to this callee may start: *now_utc* itself when it may start now, else the
    next opening (None when none comes within the horizon), or :class:`Never` when no waiting
    helps: a consent slot that does not parse (stored before imports checked it), or one that
    shares no moment of the week with the campaign's windows.

    Example: ``opening(now, "Europe/Paris", consent_slot="sam 10:00-12:00")`` is
    ``Never("consent-slot-outside-windows")`` under the default Monday-Friday windows.
    """
    slot = None
    if consent_slot:
        try:
            slot = parse_window(consent_slot)
        except ConfigError:
            return Never(BAD_CONSENT_SLOT)
        if not any(slot.meets(w) for w in windows):
            return Never(SLOT_OUTSIDE_WINDOWS)
    return next_opening(now_utc, tz_name, windows, slot, regions=regions)
