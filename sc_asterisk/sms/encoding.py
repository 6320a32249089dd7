"""How a text travels as SMS: GSM 03.38 when every character fits, UCS-2 otherwise, in parts.

GSM 03.38 counts septets: 160 in a single message, 153 per part once the message is split
(the concatenation header takes 7); a character of the extension table (``€ [ ] { } ^ ~ | \\``
and form feed) costs two, its escape and itself, and the two never go to different parts.
UCS-2 counts 16-bit units: 70 alone, 67 per part; a character outside the Basic Multilingual
Plane (most emoji) is a surrogate pair, two units, never split across parts.

The character table is the registry codec ``gsm0338`` (3GPP TS 23.038), not a table of ours.
Note what it says about French: é è à ù É Ç fit, but ç (lower case), ê â î ô û ë ï œ, the
typographic apostrophe ’ and « » do not, and any one of them sends the whole text as UCS-2.
"""
from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

from ..errors import ConfigError

GSM7 = "gsm7"
UCS2 = "ucs2"
GSM_CODEC = "gsm03.38"
# (single message, per part of a concatenated one), in septets or 16-bit units
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}
DEFAULT_MAX_PARTS = 3
# a concatenation header's reference numbers parts with one byte
MAX_PARTS_CEILING = 255


class MessageTooLong(ConfigError):
    """The text needs more parts than allowed."""


@dataclass(frozen=True)
class Encoded:
    """A text as it will be sent. ``parts`` are the pieces of text, one per SMS; ``units`` the
    septets (GSM) or 16-bit units (UCS-2) of the whole text; ``not_gsm`` the characters that
    forced UCS-2 (empty for GSM).

    Example: ``encode("Bonjour €").parts == ("Bonjour €",)``
    """

    text: str
    encoding: str
    parts: tuple[str, ...]
    units: int
    not_gsm: tuple[str, ...] = ()

    @property
    def part_count(self) -> int:
        return len(self.parts)

    def payloads(self) -> list[bytes]:
        """The bytes of each part: GSM as one septet a byte (unpacked, as SMPP carries it with
        data_coding 0), UCS-2 big-endian.

        Example: ``encode("é").payloads() == [b"\\x05"]``
        """
        if self.encoding == GSM7:
            return [part.encode(GSM_CODEC) for part in self.parts]
        return [part.encode("utf-16-be") for part in self.parts]


def encoding_of(text: str) -> tuple[str, tuple[str, ...]]:
    """GSM7 if every character of *text* is in GSM 03.38 (basic or extension table), else UCS2
    and the characters that do not fit, in order of first appearance.

    Example: ``encoding_of("Fête") == ("ucs2", ("ê",))``
    """
    try:
        text.encode(GSM_CODEC)
        return GSM7, ()
    except UnicodeEncodeError:
        pass
    misfits = []
    for char in dict.fromkeys(text):
        try:
            char.encode(GSM_CODEC)
        except UnicodeEncodeError:
            misfits.append(char)
    return UCS2, tuple(misfits)


def encode(text: str, max_parts: int = DEFAULT_MAX_PARTS) -> Encoded:
    """Choose the encoding, split *text* into parts; MessageTooLong past *max_parts*.

    Example: ``encode("a" * 161).part_count == 2``
    """
    if not isinstance(max_parts, int) or not 1 <= max_parts <= MAX_PARTS_CEILING:
        raise ConfigError(f"max parts {max_parts!r} is out of range",
                          fix=f"give a whole number from 1 to {MAX_PARTS_CEILING}")
    if not text:
        raise ConfigError("an SMS needs a text", fix="give a non-empty message text")
    encoding, misfits = encoding_of(text)
    costs = [_cost(char, encoding) for char in text]
    units = sum(costs)
    single, per_part = LIMITS[encoding]
    parts = (text,) if units <= single else tuple(_split(text, costs, per_part))
    if len(parts) > max_parts:
        raise MessageTooLong(
            f"the text takes {len(parts)} SMS parts ({units} {_unit(encoding)}, {encoding}), "
            f"more than the limit of {max_parts}",
            fix=_shorten_hint(encoding, misfits, max_parts))
    return Encoded(text, encoding, parts, units, misfits)


def part_count(text: str) -> int:
    """How many SMS *text* takes, whatever the limit.

    Example: ``part_count("é" * 160) == 1 and part_count("ê" * 71) == 2``
    """
    return encode(text, MAX_PARTS_CEILING).part_count


def _cost(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return len(char.encode(GSM_CODEC))         # 2 for an extension-table character
    return 2 if ord(char) > 0xFFFF else 1          # a surrogate pair in UTF-16


def _split(text: str, costs: list[int], per_part: int):
    # Whole characters only: an escape and its character, or a surrogate pair, stay together.
    start, used = 0, 0
    for i, cost in enumerate(costs):
        if used + cost > per_part:
            yield text[start:i]
            start, used = i, 0
        used += cost
    yield text[start:]


def _unit(encoding: str) -> str:
    return "septets" if encoding == GSM7 else "UCS-2 units"


def _shorten_hint(encoding: str, misfits: tuple[str, ...], max_parts: int) -> str:
    single, per_part = LIMITS[encoding]
    room = single if max_parts == 1 else per_part * max_parts
    hint = f"shorten it to {room} {_unit(encoding)} or raise the parts limit"
    if misfits:
        shown = " ".join(misfits[:8])
        hint += f"; without {shown} it would be GSM (160/153 a part)"
    return hint
