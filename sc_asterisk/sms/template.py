"""An SMS text with contact fields: ``Bonjour {first_name|Madame, Monsieur}, … STOP au 36180``.

A field is a contact column (``first_name``, ``last_name``, ``commune``, ``postcode``) or a
free attribute of the import (its column header, as ``contact.attributes`` keeps it). After a
``|`` comes the text used when the contact has no value; without one the field renders empty
and the doubled space it leaves is closed. ``{{`` and ``}}`` are literal braces.

Checked when the template is made: every field must exist, and under the ``fr-cnil`` profile
the text itself (not a field) must say how to object: ``STOP au <number>`` or ``STOP SMS``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import ConfigError

CONTACT_FIELDS = ("first_name", "last_name", "commune", "postcode")
# The profiles whose messages must carry an opt-out mention (dialer.campaigns.PROFILES).
OPT_OUT_REQUIRED = {"fr-cnil": True, "basic": False}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}|]*)(?:\|([^{}]*))?\}|[{}]")
_OPT_OUT = re.compile(r"\bSTOP\s+(?:SMS\b|au\s+\+?\d[\d ]*\d)", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")


class TemplateError(ConfigError):
    """The text of an SMS template is not usable."""


@dataclass(frozen=True)
class Field:
    name: str
    default: str | None = None


@dataclass(frozen=True)
class SmsTemplate:
    """A parsed template. Example::

        t = SmsTemplate.parse("Bonjour {first_name}. STOP SMS", ["first_name"], "fr-cnil")
        t.render({"first_name": "Zoé"}) == "Bonjour Zoé. STOP SMS"
    """

    text: str
    pieces: tuple[str | Field, ...]

    @classmethod
    def parse(cls, text: str, fields: Iterable[str], profile: str) -> "SmsTemplate":
        """Parse and check *text*; *fields* are the names that exist (:func:`available_fields`).
        TemplateError names what to fix."""
        if profile not in OPT_OUT_REQUIRED:
            raise TemplateError(f"unknown compliance profile {profile!r}",
                                fix="use one of " + ", ".join(OPT_OUT_REQUIRED))
        if not (text or "").strip():
            raise TemplateError("the SMS text is empty", fix="give the message text")
        pieces = tuple(_pieces(text))
        known = list(dict.fromkeys(fields))
        unknown = [p.name for p in pieces if isinstance(p, Field) and p.name not in known]
        if unknown:
            raise TemplateError(f"unknown field(s) {', '.join('{%s}' % u for u in unknown)}",
                                fix="fields are: " + ", ".join(known))
        literal = " ".join(p if isinstance(p, str) else " " for p in pieces)
        if OPT_OUT_REQUIRED[profile] and not _OPT_OUT.search(literal):
            raise TemplateError(f"a {profile} SMS must say how to object",
                                fix="add 'STOP au <short number>' or 'STOP SMS' to the text")
        return cls(text, pieces)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.name for p in self.pieces if isinstance(p, Field)))

    def render(self, contact: Any) -> str:
        """The text for one contact (a Contact row or a mapping of field values).

        Example: ``t.render(contact)``
        """
        values = contact_values(contact)
        out = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = values.get(piece.name)
                out.append(str(value).strip() if value not in (None, "") else piece.default or "")
        return _SPACES.sub(" ", "".join(out)).strip()


def contact_values(contact: Any) -> Mapping[str, Any]:
    """A contact's field values: its free attributes, then its columns over them.

    Example: ``contact_values({"first_name": "Zoé"})["first_name"] == "Zoé"``
    """
    if isinstance(contact, Mapping):
        return contact
    values = dict(getattr(contact, "attributes", None) or {})
    values.update({name: getattr(contact, name, None) for name in CONTACT_FIELDS})
    return values


def available_fields(contacts: Iterable[Any]) -> list[str]:
    """The contact columns, then every free attribute found among *contacts*, sorted.

    Example: ``available_fields(session.scalars(select(Contact)))``
    """
    keys: set[str] = set()
    for contact in contacts:
        attributes = (contact.get("attributes") if isinstance(contact, Mapping)
                      else getattr(contact, "attributes", None))
        keys.update(attributes or ())
    return list(CONTACT_FIELDS) + sorted(keys - set(CONTACT_FIELDS))


def _pieces(text: str):
    last = 0
    for match in _TOKEN.finditer(text):
        if match.start() > last:
            yield text[last:match.start()]
        token = match.group(0)
        if token in ("{{", "}}"):
            yield token[0]
        elif token in ("{", "}"):
            raise TemplateError(f"unmatched '{token}' at character {match.start() + 1}",
                                fix="write {{ or }} for a literal brace")
        else:
            name = match.group(1).strip()
            if not name:
                raise TemplateError(f"empty field at character {match.start() + 1}",
                                    fix="name a field, e.g. {first_name}")
            yield Field(name, match.group(2))
        last = match.end()
    if last < len(text):
        yield text[last:]
