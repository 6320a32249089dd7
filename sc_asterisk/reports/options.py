"""The analyst's options as library calls, shared by the CLI and the HTTP API: time zones,
ISO 8601 bounds, the row filter they make. Each bad value is a ConfigError naming the fix;
*label* is how the caller calls the option (``--since`` on the CLI, ``since`` over HTTP).
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from .rows import RowFilter


def parse_zone(name: str) -> tzinfo:
    """A time zone by IANA name. Example: ``parse_zone("Europe/Paris")``"""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}", fix="use e.g. UTC or Europe/Paris") \
            from None


def parse_when(text: str | None, tz: tzinfo, label: str) -> datetime | None:
    """An ISO 8601 time; without an offset, in *tz*. Example: ``parse_when("2024-05-01", utc,
    "--since")``"""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"bad {label} {text!r}",
                          fix="use ISO 8601, e.g. 2024-05-01 or 2024-05-01T08:00+02:00") from None
    return at if at.tzinfo else at.replace(tzinfo=tz)


def row_filter(campaigns, since: str | None, until: str | None, tz: tzinfo,
               labels: tuple[str, str] = ("--since", "--until")) -> RowFilter:
    """The export's row filter from the options' texts, refusing an empty interval.

    Example: ``row_filter(["muni"], "2024-05-01", None, ZoneInfo("UTC"))``
    """
    filt = RowFilter(tuple(campaigns), parse_when(since, tz, labels[0]),
                     parse_when(until, tz, labels[1]))
    if filt.since and filt.until and filt.since >= filt.until:
        raise ConfigError(f"{labels[0]} is not before {labels[1]}", fix="swap or widen the dates")
    return filt
