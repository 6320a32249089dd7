"""From a row of text cells to a validated contact record: header mapping (French defaults,
``--mapping col=field``) and one parser per field. A row is either entirely valid or rejected
with one reason code; it is never half-imported.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..dialer.windows import parse_window
from ..errors import ConfigError
from .numbers import PhoneInfo, normalise

FIELDS = ("phone", "first_name", "last_name", "postcode", "commune", "birth_date", "consent_at",
          "consent_slot", "legal_basis", "time_zone", "address_asserted_at")
# GDPR article 6 bases, with the French words people write in spreadsheets.
LEGAL_BASES = {
    "consent": ("consent", "consentement"),
    "contract": ("contract", "contrat"),
    "legal-obligation": ("legal obligation", "obligation legale"),
    "vital-interests": ("vital interests", "interets vitaux"),
    "public-task": ("public task", "mission d interet public", "mission de service public"),
    "legitimate-interest": ("legitimate interest", "interet legitime"),
}
_DEFAULT_HEADERS = {
    "phone": ("telephone", "tel", "mobile", "portable", "phone", "numero", "numero de telephone",
              "num tel", "gsm", "telephone mobile", "telephone portable", "tel mobile",
              "tel portable", "phone number", "msisdn", "telephone fixe", "tel fixe"),
    "last_name": ("nom", "nom de famille", "nom d usage", "last name", "surname", "family name"),
    "first_name": ("prenom", "prenoms", "first name", "given name"),
    "postcode": ("code postal", "cp", "postcode", "postal code", "zip", "zip code"),
    "commune": ("commune", "ville", "localite", "city", "town"),
    "birth_date": ("date de naissance", "date naissance", "naissance", "ddn", "birth date",
                   "date of birth", "dob", "birthdate"),
    # Not bare "consentement": such columns often hold yes/no, not a date.
    "consent_at": ("date de consentement", "date consentement", "date du consentement",
                   "consent date", "consent at", "consented at"),
    "consent_slot": ("creneau", "creneau horaire", "creneau consenti", "plage horaire",
                     "consent slot", "time slot"),
    "legal_basis": ("base legale", "base juridique", "legal basis"),
    # Overrides the zone the number gives (French Polynesia's Marquesas and Gambier islands).
    "time_zone": ("fuseau horaire", "fuseau", "time zone", "timezone"),
    # When the address was last confirmed; without it, the consent date (or --address-date).
    "address_asserted_at": ("date adresse", "date de l adresse", "adresse verifiee le",
                            "adresse confirmee le", "address date", "address asserted at",
                            "address verified at"),
}
_HEADER_FIELD = {key: name for name, keys in _DEFAULT_HEADERS.items() for key in keys}
_FRENCH_REGIONS = {"FR", "RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF", "NC", "PF", "WF"}
_POSTCODE = re.compile(r"^[0-9A-Z][0-9A-Z -]{1,9}$")
# Day first (French), or ISO year first; strptime is too slow for a million rows.
_DAY_FIRST = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$")
_YEAR_FIRST = re.compile(r"^([0-9]{4})[/\-]([0-9]{1,2})[/\-]([0-9]{1,2})$")
_DATETIME_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
_MAX_LEN = {"first_name": 100, "last_name": 100, "commune": 100, "consent_slot": 100,
            "time_zone": 64}


class RowRejected(Exception):
    """A row that cannot be imported; ``reason`` is a stable code for the reject file."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@lru_cache(maxsize=65536)  # communes repeat: folding each one once keeps imports fast
def header_key(text: str) -> str:
    """Header or commune text folded for matching: no accents, lower case, single spaces.

    Example: ``header_key(" Date_de Naissance ") == "date de naissance"``
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def check_legal_basis(value: str) -> str:
    """Canonical GDPR legal basis for *value*; ConfigError if it names none.

    Example: ``check_legal_basis("Intérêt légitime") == "legitimate-interest"``
    """
    key = header_key(value)
    for name, spellings in LEGAL_BASES.items():
        if key == header_key(name) or key in spellings:
            return name
    raise ConfigError(f"unknown legal basis {value!r}", fix="use one of: " + ", ".join(LEGAL_BASES))


def parse_mapping_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["Portable=phone", "Bureau=attr.office"]`` -> {header key: field}.

    Example: ``parse_mapping_options(["GSM=phone"]) == {"gsm": "phone"}``
    """
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        target = target.strip()
        if not sep or not column.strip() or not target:
            raise ConfigError(f"bad --mapping {item!r}", fix="write COLUMN=FIELD, e.g. GSM=phone")
        if target not in FIELDS and target != "ignore" and not (
                target.startswith("attr.") and len(target) > 5):
            raise ConfigError(f"unknown field {target!r} in --mapping {item!r}",
                              fix="use one of: " + ", ".join(FIELDS) + ", ignore, attr.NAME")
        mapping[header_key(column)] = target
    return mapping


@dataclass
class ColumnMap:
    """Which columns feed which field; columns mapped to nothing become free attributes."""

    width: int
    fields: dict[str, list[int]] = field(default_factory=dict)
    attributes: list[tuple[int, str]] = field(default_factory=list)

    def describe(self, header: list[str]) -> dict:
        """The mapping as JSON, recorded on the import batch."""
        out = {name: [header[i] for i in cols] for name, cols in self.fields.items()}
        out["attributes"] = {header[i]: key for i, key in self.attributes}
        return out


def build_column_map(header: list[str], overrides: dict[str, str] | None = None,
                     file_name: str = "the file") -> ColumnMap:
    """Map header columns to fields; error (importing nothing) if no column holds the phone.

    Example: ``build_column_map(["Nom", "Tél."]).fields["phone"] == [1]``
    """
    overrides = dict(overrides or {})
    keys = [header_key(h) for h in header]
    unknown = [col for col in overrides if col not in keys]
    if unknown:
        raise ConfigError(f"--mapping names column(s) {', '.join(unknown)} not in {file_name}",
                          fix="columns are: " + ", ".join(header))
    cmap, used_keys = ColumnMap(width=len(header)), set()
    for index, (text, key) in enumerate(zip(header, keys)):
        target = overrides.get(key) or _HEADER_FIELD.get(key)
        if target == "ignore":
            continue
        if target in FIELDS:
            cmap.fields.setdefault(target, []).append(index)
            continue
        name = target[5:] if target else (text or f"column_{index + 1}")
        while name in used_keys:
            name += "_"
        used_keys.add(name)
        cmap.attributes.append((index, name))
    if "phone" not in cmap.fields:
        raise ConfigError(f"no phone column in {file_name}",
                          fix="name one with --mapping COLUMN=phone; columns are: "
                          + ", ".join(header))
    return cmap


class Record(NamedTuple):
    """A valid contact row: its number (``PhoneInfo`` fields) and the other fields. (A flat
    named tuple: a million of them travel back from validation workers as plain tuples, the
    cheapest objects to pickle.)"""

    e164: str
    number_type: str
    time_zone: str | None
    first_name: str | None
    last_name: str | None
    postcode: str | None
    commune: str | None
    commune_key: str | None  # the commune folded for matching (``header_key``)
    birth_date: date | None
    consent_at: datetime | None
    consent_slot: str | None
    legal_basis: str | None
    address_asserted_at: datetime | None  # when the address was last confirmed (None: unknown)
    attributes: dict


class RowParser:
    """Validates the rows of one file: which cells feed which field is worked out once, not
    once per cell of a million rows.

    Example: ``RowParser(cmap, "FR", date.today()).record(["Dupont", "06 12 34 56 78"])``
    """

    def __init__(self, cmap: ColumnMap, region: str, today: date,
                 legal_basis: str | None = None, address_date: datetime | None = None):
        self.width, self.region, self.today = cmap.width, region, today
        self.legal_basis, self.address_date = legal_basis, address_date
        self.attributes = tuple(cmap.attributes)
        # (name, columns, length limit) of each field the file has, None for the others.
        spec = {name: (name, tuple(cols), _MAX_LEN.get(name, 100))
                for name, cols in cmap.fields.items() if cols}
        self.phone = spec.get("phone", ("phone", (), 100))
        (self.first_name, self.last_name, self.commune, self.consent_slot, self.postcode,
         self.birth_date, self.consent_at, self.legal_basis_column, self.time_zone,
         self.address_at) = (spec.get(name) for name in (
            "first_name", "last_name", "commune", "consent_slot", "postcode", "birth_date",
            "consent_at", "legal_basis", "time_zone", "address_asserted_at"))

    def record(self, cells: list[str]) -> Record:
        """Validate one row; raise RowRejected (or NumberRejected) with a reason code. The
        checks run in a fixed order, so a row with several faults always gets the same reason.
        """
        width = self.width
        if len(cells) < width:
            raise RowRejected("missing-fields", f"{len(cells)} of {width} columns")
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            raise RowRejected("extra-fields", f"{len(cells)} columns, header has {width}")
        if "\x00" in "".join(cells):  # PostgreSQL refuses NUL in text
            raise RowRejected("nul-character")
        phone = normalise(_text(cells, self.phone) or "", self.region)
        if self.time_zone and (text := _text(cells, self.time_zone)) is not None:
            phone = phone._replace(time_zone=_time_zone(text))
        first_name = _text(cells, self.first_name) if self.first_name else None
        last_name = _text(cells, self.last_name) if self.last_name else None
        commune = _text(cells, self.commune) if self.commune else None
        consent_slot = _text(cells, self.consent_slot) if self.consent_slot else None
        if consent_slot is not None and not _usable_slot(consent_slot):
            raise RowRejected("bad-consent-slot", consent_slot)
        postcode = birth_date = consent_at = address_at = None
        if self.postcode and (text := _text(cells, self.postcode)) is not None:
            postcode = _postcode(text, phone)
        if self.birth_date and (text := _text(cells, self.birth_date)) is not None:
            birth_date = _birth_date(text, self.today)
        if self.consent_at and (text := _text(cells, self.consent_at)) is not None:
            consent_at = _moment(text, phone, "bad-consent-date")
        if postcode or commune:
            if self.address_at and (text := _text(cells, self.address_at)) is not None:
                address_at = _moment(text, phone, "bad-address-date")
            else:  # the address came with the consent, or with the file
                address_at = consent_at or self.address_date
        legal_basis = self.legal_basis
        if self.legal_basis_column and (text := _text(cells, self.legal_basis_column)) is not None:
            try:
                legal_basis = check_legal_basis(text)
            except ConfigError:
                raise RowRejected("bad-legal-basis", text) from None
        # Folding can lengthen text (ligatures): keep within the column.
        commune_key = header_key(commune)[:100] if commune else None
        attributes = {key: text for i, key in self.attributes
                      if (text := cells[i].strip())} if self.attributes else {}
        return Record(phone.e164, phone.number_type, phone.time_zone, first_name, last_name,
                      postcode, commune, commune_key, birth_date, consent_at, consent_slot,
                      legal_basis, address_at, attributes)


def _text(cells: list[str], spec: tuple[str, tuple[int, ...], int]) -> str | None:
    """The first non-blank cell of a field's columns, stripped."""
    name, columns, limit = spec
    for index in columns:
        text = cells[index].strip()
        if text:
            if len(text) > limit:
                raise RowRejected("field-too-long", name)
            return text
    return None


def _postcode(text: str, phone: PhoneInfo) -> str:
    code = _checked_postcode(text, phone.region in _FRENCH_REGIONS)
    if code is None:
        raise RowRejected("bad-postcode", text)
    return code


@lru_cache(maxsize=65536)  # a country has a few tens of thousands of postcodes
def _checked_postcode(text: str, french: bool) -> str | None:
    code = " ".join(text.upper().split())
    if code.replace(" ", "").isdigit():
        code = code.replace(" ", "")  # "75 011"
        # A 4-digit French postcode is a spreadsheet that ate the leading zero: refuse to guess.
        if french and len(code) != 5:
            return None
    return code if _POSTCODE.match(code) else None


def parse_date(text: str) -> date:
    """A calendar date in the formats French files use; ValueError otherwise.

    Example: ``parse_date("07/03/1981") == date(1981, 3, 7)``
    """
    text = text.strip()
    if match := _DAY_FIRST.match(text):
        day, month, year = match.groups()
        return date(int(year), int(month), int(day))
    if match := _YEAR_FIRST.match(text):
        year, month, day = match.groups()
        return date(int(year), int(month), int(day))
    if "T" in text:  # ISO timestamps from XLSX cells
        return datetime.fromisoformat(text).date()
    raise ValueError(text)


def _birth_date(text: str, today: date) -> date:
    born = _date_or_none(text)
    if born is None or born > today or born.year < 1900:
        raise RowRejected("bad-birth-date", text)
    return born


@lru_cache(maxsize=65536)  # a century of birth dates
def _date_or_none(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


@lru_cache(maxsize=4096)  # slots repeat
def _usable_slot(text: str) -> bool:
    """Whether a consent slot is one the dialer can read (``lun-ven 18h-20h``): free text
    ("samedi matin") would only fail later, at the claim."""
    try:
        parse_window(text)
    except ConfigError:
        return False
    return True


@lru_cache(maxsize=256)
def _time_zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RowRejected("bad-time-zone", text) from None
    return text


def _moment(text: str, phone: PhoneInfo, reason: str) -> datetime:
    moment = None
    for fmt in _DATETIME_FORMATS:
        try:
            moment = datetime.strptime(text, fmt)
            break
        except ValueError:
            pass
    if moment is None:
        try:
            moment = datetime.combine(parse_date(text), datetime.min.time())
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise RowRejected(reason, text) from None
    if moment.tzinfo is None:
        # A bare date or time is local to the person who gave consent.
        moment = moment.replace(tzinfo=_zone_or_utc(phone.time_zone))
    if moment.year < 1990 or moment > datetime.now(timezone.utc):
        raise RowRejected(reason, text)
    return moment.astimezone(timezone.utc)


def _zone_or_utc(name: str | None):
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc
