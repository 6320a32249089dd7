"""Writers for export rows: CSV (spreadsheet-safe), JSON Lines, Parquet (typed, via pyarrow).

Each writer takes rows one at a time and holds at most one Parquet row group in memory.
``atomic_output`` makes sure a failed export never leaves a half-written file behind.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from operator import itemgetter
from pathlib import Path
from typing import IO, Iterator

from ..errors import ConfigError
from .columns import BOOL, FLOAT, INT, STR, TS

FORMATS = ("csv", "jsonl", "parquet")
PARQUET_ROW_GROUP = 50_000

# Spreadsheets run a cell that starts with one of these as a formula (or DDE command).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(_TRIGGERS)
# A sign and digits only (an E.164 number, a negative count) computes nothing: kept as it is,
# so clear numbers such as +33612345678 stay usable.
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def neutralise(text: str) -> str:
    """Make a text cell inert in Excel/LibreOffice: a leading ``'`` before a formula trigger.

    >>> neutralise("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise("+33612345678")
    '+33612345678'
    """
    if text.startswith(_TRIGGERS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def iso_ms(at: datetime, tz: tzinfo) -> str:
    """ISO 8601 with milliseconds and the UTC offset of *tz*.

    Example: ``iso_ms(datetime(2024, 5, 1, 6, tzinfo=timezone.utc), ZoneInfo("Europe/Paris"))``
    -> ``"2024-05-01T08:00:00.000+02:00"``
    """
    return at.astimezone(tz).isoformat(timespec="milliseconds")


class CsvWriter:
    """RFC 4180 CSV; ``excel=True`` means ``;`` separators, decimal commas and a UTF-8 BOM,
    which is what French Excel opens without an import wizard."""

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]], tz: tzinfo,
                 excel: bool = False):
        self._text = io.TextIOWrapper(out, encoding="utf-8-sig" if excel else "utf-8",
                                      newline="", write_through=False)
        self._csv = csv.writer(self._text, delimiter=";" if excel else ",")
        self._csv.writerow([neutralise(name) for name, _ in columns])
        # This runs for millions of rows: fetch the cells in one call, then convert only the
        # columns that need it (the csv module writes None as "" and ints with str()).
        formats = {STR: _text_cell, BOOL: _bool_cell, INT: None,
                   TS: _ts_cell(tz), FLOAT: _decimal_comma if excel else None}
        names = [name for name, _ in columns]
        self._get = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        self._convert = [(i, formats[kind]) for i, (_, kind) in enumerate(columns)
                         if formats[kind] is not None]

    def write(self, row: dict) -> None:
        cells = list(self._get(row))
        for i, fmt in self._convert:
            if cells[i] is not None:
                cells[i] = fmt(cells[i])
        self._csv.writerow(cells)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


_UTC_KEYS = ("UTC", "Etc/UTC")   # ZoneInfo names whose offset is always +00:00


def _ts_cell(tz: tzinfo):
    """iso_ms for one zone; times already in UTC written in UTC skip the zone conversion, which
    cost a third of a million-row export's time formatting."""
    if tz is not timezone.utc and getattr(tz, "key", None) not in _UTC_KEYS:
        return lambda value: iso_ms(value, tz)
    return lambda value: (value.isoformat(timespec="milliseconds")
                          if value.tzinfo is timezone.utc else iso_ms(value, tz))


def _text_cell(value: str) -> str:
    return neutralise(value) if value and value[0] in _TRIGGER_SET else value


def _bool_cell(value: bool) -> str:
    return "true" if value else "false"


def _decimal_comma(value: float) -> str:
    return repr(value).replace(".", ",")


class JsonlWriter:
    """One JSON object per line, times as ISO 8601 strings."""

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]], tz: tzinfo):
        self._out, self._names, self._tz = out, [name for name, _ in columns], tz

    def write(self, row: dict) -> None:
        obj = {name: row.get(name) for name in self._names}
        for name, value in obj.items():
            if isinstance(value, datetime):
                obj[name] = iso_ms(value, self._tz)
        self._out.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    def close(self) -> None:
        self._out.flush()


class ParquetWriter:
    """Typed Parquet: int64, bool, float64, string, timestamp[ms, tz=UTC].

    Rows are turned into compact Arrow batches every ``BATCH_ROWS`` rows (Python objects cost
    ten times more memory than Arrow arrays) and written as one row group per ``row_group``
    rows, a size analytics engines read efficiently."""

    BATCH_ROWS = 5_000

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]],
                 row_group: int = PARQUET_ROW_GROUP):
        import pyarrow.parquet as pq  # imported on use: pyarrow is slow to load
        self.schema = arrow_schema(columns)
        self._writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self._get = itemgetter(*[name for name, _ in columns])
        self._single = len(columns) == 1
        self._rows: list[tuple] = []
        self._batches: list = []
        self._batched, self._row_group = 0, row_group

    def write(self, row: dict) -> None:
        self._rows.append((self._get(row),) if self._single else self._get(row))
        if len(self._rows) >= self.BATCH_ROWS:
            self._to_batch()
            if self._batched >= self._row_group:
                self._write_group()

    def close(self) -> None:
        self._to_batch()
        self._write_group()
        self._writer.close()

    def _to_batch(self) -> None:
        if self._rows:
            import pyarrow as pa
            self._batches.append(pa.RecordBatch.from_arrays(
                [pa.array(values, type=field.type) for values, field
                 in zip(zip(*self._rows), self.schema)], schema=self.schema))
            self._batched += len(self._rows)
            self._rows = []

    def _write_group(self) -> None:
        if self._batches:
            import pyarrow as pa
            self._writer.write_table(pa.Table.from_batches(self._batches),
                                     row_group_size=self._batched)
            self._batches, self._batched = [], 0


def arrow_schema(columns: list[tuple[str, str]]):
    """The Arrow schema of export columns. Example: ``arrow_schema([("ring_ms", "int64")])``."""
    import pyarrow as pa
    types = {STR: pa.string(), INT: pa.int64(), BOOL: pa.bool_(), FLOAT: pa.float64(),
             TS: pa.timestamp("ms", tz="UTC")}
    return pa.schema([pa.field(name, types[kind]) for name, kind in columns])


def make_writer(fmt: str, out: IO[bytes], columns: list[tuple[str, str]], tz: tzinfo,
                excel: bool = False):
    """A writer for *fmt* (csv, jsonl, parquet) on a binary stream.

    Example: ``w = make_writer("csv", f, columns, timezone.utc); w.write(row); w.close()``
    """
    check_format(fmt, excel)
    if fmt == "csv":
        return CsvWriter(out, columns, tz, excel)
    if fmt == "jsonl":
        return JsonlWriter(out, columns, tz)
    return ParquetWriter(out, columns)


def check_format(fmt: str, excel: bool = False) -> None:
    """Refuse an unknown format, or ``--excel`` on anything but CSV.

    Example: ``check_format("parquet")``
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}", fix="use one of: " + ", ".join(FORMATS))
    if excel and fmt != "csv":
        raise ConfigError("--excel only applies to CSV", fix="add --format csv or drop --excel")


def check_output(path: str) -> Path:
    """Fail early (before any work) when *path* cannot become the output file.

    Example: ``check_output("exports/calls.csv")``
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{path} is a directory", fix="give a file name, e.g. -o calls.csv")
    if not target.parent.is_dir():
        raise ConfigError(f"no directory {target.parent}", fix="create it or choose another -o")
    return target


@contextmanager
def atomic_output(path: str) -> Iterator[IO[bytes]]:
    """A binary stream for *path* (``-`` is stdout) that appears only if the block succeeds.

    The data goes to a temporary file beside *path* (mode 0600: exports hold personal data),
    renamed over *path* at the end; on any error the temporary file is removed.

    Example::

        with atomic_output("calls.csv") as out:
            out.write(b"...")
    """
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = check_output(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
