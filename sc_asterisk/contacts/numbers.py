"""Phone number normalisation: one function every path uses (import, suppression, erasure).

Numbers are text from start to end; nothing is ever converted to an integer, so leading zeros and
``+`` survive. Vanity letters are refused rather than translated to digits.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult
from phonenumbers import timezone as pn_timezone

from ..errors import ScError

# Keep every compiled metadata pattern: the type of one number tries up to a dozen patterns, and
# phonenumbers otherwise looks each up in the re module's cache again, a quarter of the time a
# million-row import spends on numbers. (Releases without the switch are only slower.)
if hasattr(phonenumbers, "enable_pattern_cache"):
    phonenumbers.enable_pattern_cache()

# Types a voice broadcast may dial, and the name stored on the contact.
CALLABLE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed-or-mobile",
    PhoneNumberType.VOIP: "voip",
}
# Every other type is refused, each with its own reason code.
REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.TOLL_FREE: "toll-free",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.PERSONAL_NUMBER: "personal-number",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown-type",
}
_POSSIBILITY_REASONS = {
    ValidationResult.TOO_SHORT: "too-short",
    ValidationResult.TOO_LONG: "too-long",
    ValidationResult.INVALID_LENGTH: "invalid-length",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid-country-code",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too-short",
}
# French overseas numbers are often written nationally ("0692 ...") in mainland files: the French
# plan routes them, but phonenumbers only knows them under their own region (and takes some,
# e.g. 0269, for mainland numbers in the wrong time zone). These national prefixes are overseas
# geographic and mobile ranges only; 08/09 ranges are shared with the mainland and stay French.
_FRENCH_OVERSEAS = ("RE", "YT", "GP", "MQ", "GF", "BL", "MF")
_OVERSEAS_PREFIXES = frozenset(("262", "263", "692", "693",   # Réunion
                                "269", "639",                 # Mayotte
                                "590", "690", "691",          # Guadeloupe, St-Barth, St-Martin
                                "596", "696", "697",          # Martinique
                                "594", "694"))                # Guyane
# Where phonenumbers lists several zones for one range, the region names the right one: for
# French Polynesia, whose mobiles phonenumbers puts in the Gambier, Marquesas and Tahiti zones
# (Gambier first), the zone of where most people live (Tahiti and the Society Islands). An
# import's time-zone column overrides it for the others.
_REGION_ZONE = {"RE": "Indian/Reunion", "YT": "Indian/Mayotte", "PF": "Pacific/Tahiti"}
# Digits, separators and a leading "+" only; whitespace includes the French no-break spaces.
_ALLOWED = re.compile(r"^\+?[0-9().\-/\s]+$")
_DIGIT = re.compile(r"[0-9]")
# The usual French spellings (0X XX XX XX XX, +33 X XX XX XX XX, 0033 ..., spaces, dots or
# dashes) map to a number without phonenumbers.parse, which costs more than all the rest of a
# row's validation. The number built is the one parse() returns; anything else, overseas
# numbers written nationally included, goes through parse().
_FR_USUAL = re.compile(r"^(0|\+33|0033)([1-9][0-9]{8})$")
_USUAL_SEPARATORS = str.maketrans("", "", " .-")


class NumberRejected(ScError):
    """A number that cannot be called. ``reason`` is a stable code (e.g. "premium-rate")."""

    def __init__(self, reason: str):
        super().__init__(f"not a callable phone number ({reason})",
                         fix="write it as +33612345678 or 06 12 34 56 78; pass --region for "
                             "another country's national format")
        self.reason = reason


class PhoneInfo(NamedTuple):
    """A callable number: E.164, type name and IANA time zone. (A named tuple: cheaper to
    build than a frozen dataclass, a million times per import.)"""

    e164: str
    number_type: str
    time_zone: str | None
    region: str | None


def to_e164(raw: object, region: str = "FR") -> str:
    """Parse *raw* text to E.164, whatever its type; raise NumberRejected if not a valid number.

    Example: ``to_e164("06 12 34 56 78") == "+33612345678"``
    """
    return _e164(_parse(raw, region)[0])


def normalise(raw: object, region: str = "FR") -> PhoneInfo:
    """Parse and classify a number a campaign may call; raise NumberRejected otherwise.

    Example: ``normalise("0692 12 34 56").time_zone == "Indian/Reunion"``
    """
    number, ntype = _parse(raw, region)
    if ntype not in CALLABLE_TYPES:
        raise NumberRejected(REFUSED_TYPES.get(ntype, "unknown-type"))
    num_region = phonenumbers.region_code_for_number(number)
    return PhoneInfo(e164=_e164(number), number_type=CALLABLE_TYPES[ntype],
                     time_zone=_zone(number, ntype, num_region), region=num_region)


def masked(number: str) -> str:
    """A number fit for the terminal and logs: its first four and last two characters.

    Example: ``masked("+33612345678") == "+336******78"``
    """
    return number if len(number) <= 6 else number[:4] + "*" * (len(number) - 6) + number[-2:]


def _parse(raw: object, region: str) -> tuple[phonenumbers.PhoneNumber, int]:
    """The parsed valid number and its type. (A number is valid exactly when its type is known;
    computing the type once keeps a million-row import fast.)"""
    if not isinstance(raw, str):
        raise NumberRejected("not-text")
    text = " ".join(raw.split())  # phonenumbers chokes on no-break spaces
    if not text:
        raise NumberRejected("missing-phone")
    if len(text) > 40:
        raise NumberRejected("not-a-number")
    if region == "FR":
        usual = _FR_USUAL.match(text.translate(_USUAL_SEPARATORS))
        # A usual spelling holds only digits, " .-" and a "+", which _ALLOWED below accepts
        # when the "+" comes first: that check is skipped, not changed.
        if usual is not None and (usual[1] != "+33" or text[0] == "+") and not (
                usual[1] == "0" and usual[2][:3] in _OVERSEAS_PREFIXES):
            return _typed(phonenumbers.PhoneNumber(country_code=33,
                                                   national_number=int(usual[2])))
    if not _ALLOWED.match(text):
        raise NumberRejected("not-a-number")
    if not _DIGIT.search(text):
        raise NumberRejected("not-a-number")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise NumberRejected("not-a-number") from None
    if number.extension:
        raise NumberRejected("has-extension")
    if region == "FR" and not text.startswith(("+", "00")):
        overseas = _overseas(text)
        if overseas is not None:
            return overseas
    return _typed(number)


def _typed(number: phonenumbers.PhoneNumber) -> tuple[phonenumbers.PhoneNumber, int]:
    ntype = phonenumbers.number_type(number)
    if ntype != PhoneNumberType.UNKNOWN:
        return number, ntype
    possible = phonenumbers.is_possible_number_with_reason(number)
    raise NumberRejected(_POSSIBILITY_REASONS.get(possible, "invalid"))


def _overseas(text: str) -> tuple[phonenumbers.PhoneNumber, int] | None:
    digits = "".join(c for c in text if c.isdigit())
    if not (digits.startswith("0") and digits[1:4] in _OVERSEAS_PREFIXES):
        return None
    for overseas in _FRENCH_OVERSEAS:
        candidate = phonenumbers.parse(text, overseas)
        ntype = phonenumbers.number_type(candidate)
        if ntype != PhoneNumberType.UNKNOWN:
            return candidate, ntype
    return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _zone(number: phonenumbers.PhoneNumber, ntype: int, region: str | None) -> str | None:
    # What pn_timezone.time_zones_for_number does, without computing the type a third time.
    if phonenumbers.is_number_type_geographical(ntype, number.country_code):
        zones = pn_timezone.time_zones_for_geographical_number(number)
    else:
        zones = pn_timezone.TIMEZONE_DATA.get(str(number.country_code), ())
    zones = [z for z in zones if z != "Etc/Unknown"]
    if not zones:
        return None
    if len(zones) > 1 and region in _REGION_ZONE and _REGION_ZONE[region] in zones:
        return _REGION_ZONE[region]
    return zones[0]


@lru_cache(maxsize=4096)
def plan_regions(e164: str) -> tuple[str, ...]:
    """The regions (ISO codes) whose numbering plan holds *e164*: one, or several where
    territories share ranges (+590: Guadeloupe, Saint-Barthélemy, Saint-Martin); () for text
    that is not a valid number.

    Example: ``plan_regions("+590590271234") == ("BL", "MF")``
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    return tuple(r for r in regions if phonenumbers.is_valid_number_for_region(number, r))


def check_region(region: str) -> str:
    """Validate a default region code (ISO 3166 alpha-2 known to phonenumbers).

    Example: ``check_region("fr") == "FR"``
    """
    code = (region or "").upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ScError(f"unknown region {region!r}", fix="use an ISO country code such as FR or BE")
    return code
