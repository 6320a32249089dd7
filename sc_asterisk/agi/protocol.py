"""FastAGI wire format as pure functions over text: the request header and command results.

Asterisk sends ``agi_key: value`` lines then a blank line; each command gets one result line
such as ``200 result=0 endpos=35040``, ``200 result=57 (dtmf) endpos=12000``,
``200 result=-1 endpos=35040`` (the channel hung up mid-playback), ``510 Invalid or unknown
command``, ``511 Command Not Permitted on a dead channel``, or a ``520-`` block ending with a
``520 End of proper usage.`` line. A lone ``HANGUP`` line may arrive at any time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEADER_LINES = 200
MAX_LINE_BYTES = 8192

HANGUP_LINE = "HANGUP"
_RESULT_RE = re.compile(r"^(?P<code>[0-9]{3})(?P<sep>[ -])(?P<rest>.*)$")
_FIELD_RE = re.compile(r"(?P<key>[A-Za-z_]+)=(?P<value>\S*)")
_DATA_RE = re.compile(r"\((?P<data>[^)]*)\)")
# ASCII digits only: str.isdigit() and \d also accept '²' or Arabic-Indic digits.
_COUNT_RE = re.compile(r"[0-9]{1,18}")
_INT_RE = re.compile(r"-?[0-9]{1,18}")


class AgiProtocolError(ValueError):
    """The peer sent something that is not FastAGI."""


@dataclass(frozen=True)
class AgiResult:
    """One command's answer. ``result`` is the integer after ``result=`` (None when absent)."""

    code: int
    result: int | None = None
    data: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def dead_channel(self) -> bool:
        return self.code == 511

    @property
    def endpos(self) -> int | None:
        """The sample offset where playback stopped; None when absent or not a count."""
        value = self.fields.get("endpos")
        return int(value) if value is not None and _COUNT_RE.fullmatch(value) else None

    @property
    def digit(self) -> str | None:
        """The DTMF digit that interrupted playback, if any (result is its ASCII code)."""
        # DTMF digits are ASCII; anything else is not a digit, whatever the peer sent.
        if self.result is not None and 0 < self.result < 128:
            return chr(self.result)
        return None


def parse_header_line(line: str) -> tuple[str, str]:
    """Parse one ``agi_key: value`` line.

    >>> parse_header_line("agi_uniqueid: 42-abc")
    ('agi_uniqueid', '42-abc')
    """
    key, sep, value = line.partition(":")
    key = key.strip()
    if not sep or not key.startswith("agi_") or not key.replace("_", "").isalnum():
        raise AgiProtocolError(f"not an AGI header line: {line[:60]!r}")
    return key, value.strip()


def parse_result(line: str) -> AgiResult:
    """Parse a single-line command result.

    >>> parse_result("200 result=-1 endpos=35040").endpos
    35040
    >>> parse_result("200 result=57 endpos=800").digit
    '9'
    """
    m = _RESULT_RE.match(line.strip())
    if not m:
        raise AgiProtocolError(f"not an AGI result line: {line[:60]!r}")
    code, rest = int(m.group("code")), m.group("rest")
    fields = {f.group("key"): f.group("value") for f in _FIELD_RE.finditer(rest)}
    data_match = _DATA_RE.search(rest)
    result = None
    raw = fields.get("result")
    if raw is not None and _INT_RE.fullmatch(raw):
        result = int(raw)
    return AgiResult(code=code, result=result, data=data_match.group("data") if data_match else None,
                     fields=fields, text=rest)


def is_final(line: str) -> bool:
    """True for a line that ends a command's answer: three ASCII digits and a space."""
    m = _RESULT_RE.match(line.strip())
    return bool(m and m.group("sep") == " ")


def is_continuation(line: str) -> bool:
    """True for the ``520-...`` lines that open a multi-line usage block."""
    m = _RESULT_RE.match(line.strip())
    return bool(m and m.group("sep") == "-")


def quote_arg(value: str) -> str:
    """Quote one command argument the way Asterisk's AGI parser expects.

    >>> quote_arg('9')
    '"9"'
    """
    if any(c in value for c in '\r\n'):
        raise AgiProtocolError("AGI arguments cannot contain line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stream_file_command(path: str, escape_digits: str = "", offset: int | None = None) -> str:
    """Build ``STREAM FILE`` for *path* (no extension), interruptible by *escape_digits*.

    >>> stream_file_command("/var/lib/sc/msg", "9")
    'STREAM FILE "/var/lib/sc/msg" "9"'
    """
    cmd = f"STREAM FILE {quote_arg(path)} {quote_arg(escape_digits)}"
    if offset:
        cmd += f" {int(offset)}"
    return cmd


def gosub_command(context: str, extension: str, priority: int, args: tuple[str, ...] = ()
                  ) -> str:
    """Build ``GOSUB``: run a dialplan subroutine on the channel (its ``Return()`` ends it).
    The arguments reach it as ``${ARG1}``, ``${ARG2}``...; none may hold a comma.

    >>> gosub_command("sc-segment", "s", 1, ("0", "0", "/snd/msg"))
    'GOSUB sc-segment s 1 "0,0,/snd/msg"'
    """
    if any("," in a for a in args):
        raise AgiProtocolError("a Gosub argument cannot contain a comma")
    for word in (context, extension):
        if not word or any(c.isspace() or c in '"\\' for c in word):
            raise AgiProtocolError(f"bad dialplan name {word[:40]!r}")
    cmd = f"GOSUB {context} {extension} {int(priority)}"
    return cmd + f" {quote_arg(','.join(args))}" if args else cmd


def is_provisional(result: "AgiResult") -> bool:
    """``100 result=0 Trying...``: Asterisk started a long command (GOSUB); its real answer
    follows."""
    return result.code == 100
