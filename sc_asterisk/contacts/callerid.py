"""Caller-ID rules as data: which numbers a campaign may present, per compliance profile.

``fr-cnil`` follows ARCEP decision 2022-1583: since 1 January 2023 automated calling and
messaging systems present numbers from ranges reserved for them, chosen by the callee's
territory (metropolitan ranges for metropolitan callees, one overseas range per overseas
territory); mobile numbers (06, 07 and the overseas mobile ranges) are for person-to-person
use. ``basic`` has no rule. The lab's fiction range (ARCEP's numbers for fiction, +33 1 99)
is allowed only on the lab trunk, which reaches SIPp callees and no one else.

The SMS sender IDs (when that channel lands) are checked against the same table.
"""
from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from ..errors import ConfigError
from .numbers import plan_regions, to_e164

DECISION = "ARCEP decision 2022-1583"
LAB_FICTION_PREFIX = "+33199"   # 01 99: ARCEP's fiction range, used by the lab and the demo

METROPOLE = frozenset({"FR"})


@dataclass(frozen=True)
class CallerRange:
    """One reserved range: the E.164 prefix, how the French write it, whose callees it may call.

    Example: ``CallerRange("+33162", "01 62", METROPOLE)``
    """

    prefix: str
    national: str
    territories: frozenset[str]


@dataclass(frozen=True)
class NumberingPlan:
    """The caller IDs one profile allows. Example: ``PLANS["fr-cnil"].ranges[0].national``."""

    name: str
    source: str
    ranges: tuple[CallerRange, ...]
    refuse_mobiles: bool = True

    def describe(self) -> str:
        """The ranges, grouped as people read them: ``01 62, 01 63, ... (metropolitan); ...``."""
        metro = [r.national for r in self.ranges if r.territories == METROPOLE]
        overseas = [f"{r.national} {'/'.join(sorted(r.territories))}"
                    for r in self.ranges if r.territories != METROPOLE]
        return f"{', '.join(metro)} (metropolitan); {', '.join(overseas)} (overseas)"


def _metro(*nationals: str) -> tuple[CallerRange, ...]:
    return tuple(CallerRange("+33" + n.replace(" ", "")[1:], n, METROPOLE) for n in nationals)


def _overseas(national: str, *territories: str) -> CallerRange:
    return CallerRange("+33" + national.replace(" ", "")[1:], national, frozenset(territories))


FR_CNIL = NumberingPlan(
    name="fr-cnil", source=DECISION,
    ranges=_metro("01 62", "01 63", "02 70", "02 71", "03 77", "03 78",
                  "04 24", "04 25", "05 68", "05 69", "09 48", "09 49") + (
        _overseas("09 475", "GP", "MF", "BL"),      # Guadeloupe, Saint-Martin, Saint-Barthélemy
        _overseas("09 476", "GF"),                  # Guyane
        _overseas("09 477", "MQ"),                  # Martinique
        _overseas("09 478", "RE", "YT"),            # La Réunion, Mayotte
        _overseas("09 479", "RE", "YT"),
    ))

# One entry per compliance profile (dialer.campaigns.PROFILES): None means no rule.
PLANS: dict[str, NumberingPlan | None] = {"fr-cnil": FR_CNIL, "basic": None}


def is_lab_fiction(e164: str) -> bool:
    return e164.startswith(LAB_FICTION_PREFIX)


def check_caller_id(profile: str, caller_id: str, lab_trunk: bool = False) -> str:
    """The caller ID in E.164 if *profile* allows a campaign to present it; else ConfigError
    (one line naming the decision and the ranges), or NumberRejected.

    Example: ``check_caller_id("fr-cnil", "01 62 00 00 00") == "+33162000000"``
    """
    e164 = to_e164(caller_id)   # NumberRejected: not a number at all
    plan = PLANS.get(profile)
    if plan is None or (lab_trunk and is_lab_fiction(e164)):
        return e164
    fix = f"under {plan.name} use a number from {plan.describe()}"
    if plan.refuse_mobiles and _is_mobile(e164):
        raise ConfigError(f"caller ID {e164} is a mobile number, reserved for person-to-person "
                          f"calls ({plan.source})", fix=fix)
    if _range_of(plan, e164) is None:
        lab = " (01 99, the fiction range, only on the lab trunk)" if is_lab_fiction(e164) else ""
        raise ConfigError(f"caller ID {e164} is outside the ranges {plan.source} reserves for "
                          f"automated calls{lab}", fix=fix)
    return e164


def serves(profile: str, caller_id: str | None, callee: str) -> bool:
    """Whether a campaign presenting *caller_id* may call *callee* (both E.164): under
    ``fr-cnil`` the caller ID's range must be the callee's territory's (a metropolitan range
    for metropolitan France, 09 476 for Guyane...). Callees of territories without a reserved
    range (other countries, other overseas collectivities) are served by none.

    Example: ``serves("fr-cnil", "+33947600000", "+594594123456") is True``
    """
    plan = PLANS.get(profile)
    if plan is None or caller_id is None or is_lab_fiction(caller_id):
        return True
    allowed = _range_of(plan, caller_id)
    return allowed is not None and bool(allowed.territories & set(territory(callee)))


def territory(callee: str) -> tuple[str, ...]:
    """The regions whose numbering plan holds *callee* (``("FR",)``, ``("RE",)``...)."""
    return plan_regions(callee)


def _range_of(plan: NumberingPlan, e164: str) -> CallerRange | None:
    # The longest prefix wins: 09 475 must not be read as some shorter 09 47 range.
    matches = [r for r in plan.ranges if e164.startswith(r.prefix)]
    return max(matches, key=lambda r: len(r.prefix)) if matches else None


def _is_mobile(e164: str) -> bool:
    number = phonenumbers.parse(e164, None)
    return phonenumbers.number_type(number) in (PhoneNumberType.MOBILE,)
