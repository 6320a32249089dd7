"""Streaming table reader for contact and do-not-call files: CSV (``,`` ``;`` or tab, any common
encoding) and XLSX. Rows come out as lists of text with their line number; nothing is coerced
and the file is never held in memory.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from ..errors import ScError

CHUNK = 1 << 20
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls / .doc
_DELIMITERS = (";", ",", "\t")
# Some exports carry huge free-text cells; the csv default (128 KiB) would fail on them.
csv.field_size_limit(16 * 1024 * 1024)

Progress = Callable[[int], None]


class UnreadableFile(ScError):
    """The file as a whole cannot be read: nothing is imported."""


class Row(NamedTuple):
    """One data row. ``cells`` is None when the CSV record itself is malformed.

    (A named tuple: a million of them are built and sent to validation workers.)"""

    line: int
    cells: list[str] | None


@dataclass
class TableFile:
    """An opened table: format, encoding, delimiter, header. Example::

        table = open_table(Path("contacts.csv"))
        for row in table.rows():
            print(row.line, row.cells)
    """

    path: Path
    file_format: str
    sha256: str
    total: int  # progress units: bytes for CSV, rows for XLSX
    encoding: str | None = None
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    header_line: int = 0
    blank_rows: int = 0

    def rows(self, progress: Progress | None = None) -> Iterator[Row]:
        """Data rows after the header, blank rows skipped (and counted in ``blank_rows``).

        *progress* receives increments of ``total`` units (bytes for CSV, rows for XLSX)."""
        for row in self._all_rows(progress):
            if row.line <= self.header_line:
                continue
            if row.cells is not None and not "".join(row.cells).strip():
                self.blank_rows += 1
                continue
            yield row

    def _all_rows(self, progress: Progress | None) -> Iterator[Row]:
        return self._csv_rows(progress) if self.file_format == "csv" else self._xlsx_rows(progress)

    def _csv_rows(self, progress: Progress | None) -> Iterator[Row]:
        with open(self.path, "rb") as raw:
            counting = _CountingReader(raw)
            text = io.TextIOWrapper(io.BufferedReader(counting, CHUNK), encoding=self.encoding,
                                    newline="")
            reader = csv.reader(text, delimiter=self.delimiter, strict=False)
            reported = 0
            while True:
                start = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    cells = None
                if progress is not None and counting.count - reported >= CHUNK:
                    progress(counting.count - reported)
                    reported = counting.count
                yield Row(start, cells)
            if progress is not None:
                progress(self.total - reported)

    def _xlsx_rows(self, progress: Progress | None) -> Iterator[Row]:
        workbook = _open_workbook(self.path)
        try:
            for line, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
                if progress is not None:
                    progress(1)
                yield Row(line, [_cell_text(v) for v in values])
        finally:
            workbook.close()


def open_table(path: str | Path, encoding: str | None = None) -> TableFile:
    """Detect format, encoding and delimiter, and read the header row (the first non-blank row).

    Example: ``open_table("liste.csv").header == ["nom", "prénom", "téléphone"]``
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as exc:
        raise UnreadableFile(f"cannot open {path.name}: {exc.strerror}",
                             fix="check the path and its permissions") from None
    if magic.startswith(_OLE_MAGIC):
        raise UnreadableFile(f"{path.name} is a legacy Excel .xls file",
                             fix="save it as .xlsx or CSV")
    if magic.startswith(_XLSX_MAGIC):
        table = TableFile(path, "xlsx", _digest(path), _xlsx_row_count(path))
    else:
        digest, size, enc = _digest_and_encoding(path, encoding)
        table = TableFile(path, "csv", digest, size, encoding=enc)
        table.delimiter = _sniff_delimiter(path, enc)
    for row in table._all_rows(None):
        if row.cells is not None and any(c.strip() for c in row.cells):
            table.header = [c.strip() for c in row.cells]
            table.header_line = row.line
            return table
    raise UnreadableFile(f"{path.name} has no header row", fix="the first non-blank row must name "
                         "the columns")


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _digest_and_encoding(path: Path, wanted: str | None) -> tuple[str, int, str]:
    """One streaming pass: the file's hash, and proof that the whole file decodes, so a bad byte
    near the end cannot stop an import half-way."""
    with open(path, "rb") as f:
        head = f.read(4)
    if wanted:
        try:
            codecs.lookup(wanted)
        except LookupError:
            raise UnreadableFile(f"unknown encoding {wanted!r}",
                                 fix="use e.g. --encoding utf-8 or --encoding cp1252") from None
        candidates = [wanted]
    elif head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252"]
    for encoding in candidates:
        sha, n, ok = hashlib.sha256(), 0, True
        decoder = codecs.getincrementaldecoder(encoding)()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                try:
                    text = decoder.decode(chunk)
                    if n == 0 and _looks_binary(text):
                        raise UnreadableFile(f"{path.name} is not a text file",
                                             fix="export it as CSV or XLSX")
                except UnicodeDecodeError:
                    ok = False
                    break
                n += len(chunk)
            else:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    ok = False
        if ok:
            return sha.hexdigest(), n, encoding
    raise UnreadableFile(f"{path.name} is not valid {' or '.join(candidates)}",
                         fix="pass --encoding with the file's real encoding (e.g. latin-1)")


def _looks_binary(text: str) -> bool:
    """Many control characters: a binary file, not a CSV with one odd cell."""
    head = text[:65536]
    controls = sum(1 for c in head if c < " " and c not in "\t\r\n")
    return controls * 10 > len(head)


def _sniff_delimiter(path: Path, encoding: str) -> str:
    """The delimiter the header line uses most (a bounded read: one line can be huge)."""
    with open(path, encoding=encoding, newline="") as f:
        head = f.read(65536)
    line = next((text for text in head.splitlines() if text.strip()), "")
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_workbook(path: Path):
    from openpyxl import load_workbook
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, KeyError, openpyxl's InvalidFileException and friends
        raise UnreadableFile(f"{path.name} is not a readable XLSX workbook ({type(exc).__name__})",
                             fix="save it again as .xlsx, or export it as CSV") from None


def _xlsx_row_count(path: Path) -> int:
    """Rows of the first sheet, read to the end once, so that a damaged workbook is refused
    whole before anything is imported (openpyxl reads lazily and fails midway otherwise)."""
    workbook = _open_workbook(path)
    try:
        if not workbook.worksheets:
            raise UnreadableFile(f"{path.name} has no worksheet", fix="put the contacts on the "
                                 "first sheet")
        try:
            return sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
        except UnreadableFile:
            raise
        except Exception as exc:
            raise UnreadableFile(f"{path.name} is a damaged workbook ({type(exc).__name__})",
                                 fix="open it in a spreadsheet and save it again, or export CSV"
                                 ) from None
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """Spreadsheet value as text. Integers stay digit strings; floats lose a spurious ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


class _CountingReader(io.RawIOBase):
    """Counts bytes as the text layer pulls them, for a byte-accurate progress bar."""

    def __init__(self, raw):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.count += n or 0
        return n
