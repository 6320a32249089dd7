"""Audience selection: which contacts a campaign may call, and why the others are excluded.

The filters run in SQL (the base can hold millions of contacts); only the matched contacts come
back to Python, for the suppression check, which needs the installation key.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from ..db import Contact
from ..db.models_privacy import ContactSource, ImportBatch
from ..errors import ConfigError
from .mapping import header_key
from .suppression import ERASED, SuppressionStore

# --where type=... names a family: a "fixed-or-mobile" number (e.g. North America) is both.
NUMBER_TYPES = {
    "mobile": ("mobile", "fixed-or-mobile"),
    "fixed": ("fixed", "fixed-or-mobile"),
    "voip": ("voip",),
}
_KEYS = {
    "postcode": "postcode", "cp": "postcode", "code postal": "postcode",
    "commune": "commune", "ville": "commune",
    "departement": "departement", "dept": "departement",
    "min age": "min_age", "type": "type", "list": "list", "liste": "list",
}
_FILTER_HELP = "postcode, commune, departement, min-age, type, list, attr.NAME"
# Exclusion reasons of an area filter's contacts whose address may be out of date.
STALE_ADDRESS, ADDRESS_AGE_UNKNOWN = "stale-address", "address-age-unknown"
_AGE = re.compile(r"^([1-9][0-9]{0,4})\s*([dmy])$")


@dataclass(frozen=True)
class AddressAge:
    """How old a confirmed address may be for geographic targeting: months and days.

    Example: ``AddressAge(months=12).cutoff(date(2026, 12, 6)) == date(2025, 12, 6)``
    """

    months: int = 0
    days: int = 0

    def cutoff(self, today: date) -> date:
        """The oldest confirmation date still trusted on *today*."""
        total = today.year * 12 + today.month - 1 - self.months
        year, month = divmod(total, 12)
        day = min(today.day, _month_days(year, month + 1))
        return date(year, month + 1, day) - timedelta(days=self.days)

    def __str__(self) -> str:
        return f"{self.months} months" if self.months else f"{self.days} days"


# The freshness limit each compliance profile applies when --max-address-age is not given.
PROFILE_ADDRESS_AGE = {"fr-cnil": AddressAge(months=12), "basic": None}


def parse_address_age(text: str, profile: str = "fr-cnil") -> AddressAge | None:
    """``18m``, ``365d`` or ``2y``; ``none`` (no limit) only outside the ``fr-cnil`` profile.

    Example: ``parse_address_age("18m") == AddressAge(months=18)``
    """
    value = text.strip().lower()
    if value == "none":
        if profile == "fr-cnil":
            raise ConfigError("the fr-cnil profile targets by area only on recent addresses",
                              fix="give --max-address-age an age, e.g. 24m")
        return None
    match = _AGE.match(value)
    if not match:
        raise ConfigError(f"bad address age {text!r}",
                          fix="write a number of days, months or years, e.g. 365d, 18m or 2y")
    count, unit = int(match[1]), match[2]
    if unit == "d":
        return AddressAge(days=count)
    return AddressAge(months=count * 12 if unit == "y" else count)


@dataclass(frozen=True)
class Filters:
    """Audience filters. Several values for one key mean "any of"; different keys all apply."""

    postcodes: frozenset[str] = frozenset()
    communes: frozenset[str] = frozenset()
    departements: frozenset[str] = frozenset()
    min_age: int | None = None
    types: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    attributes: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def has_area(self) -> bool:
        return bool(self.postcodes or self.communes or self.departements)


@dataclass
class Audience:
    """Matched contacts as (contact id, E.164), in id order, and the excluded counts by reason:
    outside-area, stale-address, address-age-unknown, wrong-type, attribute-mismatch,
    under-age, no-consent, suppressed, erased."""

    members: list[tuple[int, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)

    @property
    def contacts(self) -> list[int]:
        return [contact_id for contact_id, _ in self.members]


def parse_where(items: list[str] | tuple[str, ...]) -> Filters:
    """Parse ``--where KEY=VALUE`` options; values may be comma-separated lists.

    Example: ``parse_where(["departement=75,92", "min-age=18", "attr.bureau=12"])``
    """
    values: dict[str, set[str]] = {}
    attributes: dict[str, set[str]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        parts = {v.strip() for v in raw.split(",") if v.strip()}
        if not sep or not name.strip() or not parts:
            raise ConfigError(f"bad --where {item!r}", fix="write KEY=VALUE, e.g. postcode=75011")
        if name.strip().startswith("attr.") and len(name.strip()) > 5:
            attributes.setdefault(name.strip()[5:], set()).update(parts)
            continue
        key = _KEYS.get(header_key(name))
        if key is None:
            raise ConfigError(f"unknown filter {name.strip()!r} in --where {item!r}",
                              fix="use one of: " + _FILTER_HELP)
        values.setdefault(key, set()).update(parts)
    min_age = None
    if "min_age" in values:
        ages = values["min_age"]
        if len(ages) != 1 or not next(iter(ages)).isdigit():
            raise ConfigError(f"bad min-age {','.join(sorted(ages))!r}",
                              fix="give one whole number of years, e.g. min-age=18")
        min_age = int(next(iter(ages)))
    types = values.get("type", set())
    if types - set(NUMBER_TYPES):
        raise ConfigError(f"unknown number type(s) {', '.join(sorted(types - set(NUMBER_TYPES)))}",
                          fix="use one of: " + ", ".join(NUMBER_TYPES))
    return Filters(
        postcodes=frozenset(p.replace(" ", "").upper() for p in values.get("postcode", ())),
        communes=frozenset(values.get("commune", ())),
        departements=frozenset(_departement(d) for d in values.get("departement", ())),
        min_age=min_age, types=frozenset(types), lists=frozenset(values.get("list", ())),
        attributes=tuple(sorted((k, frozenset(v)) for k, v in attributes.items())))


def select_audience(session: Session, filters: Filters, today: date, *, key: str | bytes,
                    min_age_default: int = 18, max_address_age: AddressAge | None = None
                    ) -> Audience:
    """Contacts a campaign may call under *filters*, and excluded counts by reason.

    *key* is the installation key (``settings.secret("installation-key")``); a contact whose
    number is in the suppression store is excluded as "suppressed" (or "erased"). With an area
    filter and *max_address_age*, a contact whose address was confirmed longer ago is excluded
    as "stale-address" (people move), one whose address has no date as "address-age-unknown".

    Example::

        audience = select_audience(s, parse_where(["commune=Paris"]), date.today(), key=key)
        print(len(audience.members), dict(audience.excluded))
    """
    universe = _in_lists(filters.lists) if filters.lists else true()
    reason = _reason(filters, today, min_age_default, max_address_age)
    reasons = select(reason.label("reason")).where(universe).subquery()
    audience = Audience()
    for name, count in session.execute(select(reasons.c.reason, func.count())
                                       .where(reasons.c.reason.is_not(None))
                                       .group_by(reasons.c.reason)):
        audience.excluded[name] = count
    matched = session.execute(select(Contact.id, Contact.e164)
                              .where(universe, reason.is_(None)).order_by(Contact.id)
                              .execution_options(yield_per=5000))
    store = SuppressionStore(session, key)
    for chunk in matched.partitions():
        suppressed = store.reasons_among([e164 for _, e164 in chunk])
        for contact_id, e164 in chunk:
            why = suppressed.get(e164)
            if why is None:
                audience.members.append((contact_id, e164))
            else:
                audience.excluded[ERASED if why == ERASED else "suppressed"] += 1
    return audience


def _reason(filters: Filters, today: date, min_age_default: int,
            max_address_age: AddressAge | None = None):
    """SQL CASE naming the first reason a contact is excluded, NULL when it matches."""
    whens = []
    if filters.has_area:
        whens.append((~_area_ok(filters), "outside-area"))
        if max_address_age is not None:
            oldest = max_address_age.cutoff(today)
            since = datetime(oldest.year, oldest.month, oldest.day, tzinfo=timezone.utc)
            whens.append((Contact.address_asserted_at.is_(None), ADDRESS_AGE_UNKNOWN))
            whens.append((Contact.address_asserted_at < since, STALE_ADDRESS))
    if filters.types:
        wanted = sorted({t for name in filters.types for t in NUMBER_TYPES[name]})
        whens.append((~_sure(Contact.number_type.in_(wanted)), "wrong-type"))
    for name, accepted in filters.attributes:
        whens.append((~_sure(Contact.attributes[name].as_string().in_(sorted(accepted))),
                      "attribute-mismatch"))
    min_age = filters.min_age if filters.min_age is not None else min_age_default
    if min_age > 0:
        # An unknown birth date is not evidence of a minor: the list owner vouches for it.
        whens.append((_sure(Contact.birth_date > _years_before(today, min_age)), "under-age"))
    whens.append((func.coalesce(Contact.legal_basis, "") == "", "no-consent"))
    return case(*whens, else_=None)


def _area_ok(filters: Filters):
    conditions = []
    if filters.postcodes:
        conditions.append(Contact.postcode.in_(sorted(filters.postcodes)))
    if filters.communes:
        keys = sorted({header_key(c) for c in filters.communes})
        conditions.append(or_(Contact.commune_key.in_(keys),
                              and_(Contact.commune_key.is_(None),
                                   Contact.commune.in_(sorted(filters.communes)))))
    if filters.departements:
        conditions.append(_departement_sql().in_(sorted(filters.departements)))
    # Unknown address = not shown to be inside the area: excluded, not assumed.
    return _sure(and_(*conditions))


def _departement_sql():
    """The French département of a 5-digit postcode, computed in portable SQL."""
    pc = Contact.postcode
    two = func.substr(pc, 1, 2)
    return case(
        (func.length(pc) != 5, None),
        (two.in_(("97", "98")), func.substr(pc, 1, 3)),
        (two == "20", case((pc < "20200", "2A"), else_="2B")),  # Corsica
        else_=two)


def _departement(text: str) -> str:
    code = text.strip().upper()
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    overseas = code.isdigit() and len(code) == 3 and code.startswith(("97", "98"))
    if not (code in ("2A", "2B") or overseas or (code.isdigit() and len(code) == 2)):
        raise ConfigError(f"bad departement {text!r}", fix="use e.g. departement=75, 2A or 974")
    return code


def _in_lists(lists: frozenset[str]):
    """In a list by its latest import, or by any import that brought it (provenance)."""
    names = sorted(lists)
    via_batch = exists(select(ContactSource.id)
                       .join(ImportBatch, ImportBatch.id == ContactSource.batch_id)
                       .where(ContactSource.contact_id == Contact.id,
                              ImportBatch.list_name.in_(names)))
    return or_(Contact.list_name.in_(names), via_batch)


def _sure(condition):
    # SQL's NULL would make a CASE branch silently not match: a missing value must count as
    # "condition false", never as "unknown, let it through".
    return func.coalesce(condition, false())


def _month_days(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)
