"""Writers for export rows: CSV (spreadsheet-safe), JSON Lines, Parquet (typed, via pyarrow).

Each writer takes a batch of rows as columns (``rows.iter_batches``; times as epoch
milliseconds) and holds at most one Parquet row group in memory. Formatting runs a column at
a time, which is what makes a million rows cheap. ``atomic_output`` makes sure a failed
export never leaves a half-written file behind.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

from ..errors import ConfigError
from ..files import atomic_writer
from .columns import BOOL, EPOCH, FLOAT, INT, STR, TS
from .rows import Remembered

FORMATS = ("csv", "jsonl", "parquet")
PARQUET_ROW_GROUP = 50_000

# Spreadsheets run a cell that starts with one of these as a formula (or DDE command).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(_TRIGGERS)
# A trigger at the start of a cell, once a column's cells are joined after NUL separators.
_TRIGGER_AFTER_NUL = re.compile("\0[" + re.escape("".join(_TRIGGERS)) + "]")
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


_MINUTE, _LAST_MS = timedelta(minutes=1), timedelta(milliseconds=59_999)
_SECONDS: list[str] = []       # "00.000" .. "59.999", built on first use


def iso_ms_texts(tz: tzinfo, missing: str | None = None
                 ) -> Callable[[Sequence[int | None]], list[str | None]]:
    """A function turning a column of epoch milliseconds into ``iso_ms`` texts in *tz*
    (*missing* for None).

    The text of a minute (date, hour, minute, offset) is computed once; only the seconds vary
    within it. A minute whose offset changes, or is not whole minutes (historic local mean
    times), is computed value by value.

    Example: ``iso_ms_texts(ZoneInfo("Europe/Paris"))([1714550400000, None])``
    -> ``["2024-05-01T10:00:00.000+02:00", None]``
    """
    if not _SECONDS:
        _SECONDS.extend(f"{s:02d}.{ms:03d}" for s in range(60) for ms in range(1000))
    seconds, minutes = _SECONDS, {}
    exact = (None, None)

    def minute(number: int) -> tuple:
        start = EPOCH + number * _MINUTE
        local = start.astimezone(tz)
        offset = local.utcoffset()
        entry = exact
        if not offset % _MINUTE and (start + _LAST_MS).astimezone(tz).utcoffset() == offset:
            text = local.isoformat(timespec="milliseconds")
            entry = (text[:17], text[23:])     # "2024-05-01T10:00:" and "+02:00"
        if len(minutes) >= 10_000:             # bounded memory over years of calls
            minutes.clear()
        minutes[number] = entry
        return entry

    def texts(values: Sequence[int | None]) -> list[str | None]:
        out: list[str | None] = []
        append, known = out.append, minutes.get
        for ms in values:
            if ms is None:
                append(missing)
                continue
            number, within = divmod(ms, 60_000)
            head, tail = known(number) or minute(number)
            if head is None:
                append(iso_ms(EPOCH + timedelta(milliseconds=ms), tz))
            else:
                append(head + seconds[within] + tail)
        return out
    return texts


class CsvWriter:
    """RFC 4180 CSV; ``excel=True`` means ``;`` separators, decimal commas and a UTF-8 BOM,
    which is what French Excel opens without an import wizard.

    Rows are joined directly, quoting the cells the csv module would quote (those holding the
    separator, a double quote, CR or LF) the way it quotes them; the csv module writes the
    header and single-column files (where it quotes an empty record). A test compares both."""

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]], tz: tzinfo,
                 excel: bool = False):
        self._out = out
        self._delimiter = ";" if excel else ","
        self._specials = (self._delimiter, '"', "\r", "\n")
        self._one_column = len(columns) == 1
        header = self._csv_text([[neutralise(name) for name, _ in columns]])
        out.write((("\ufeff" if excel else "") + header).encode())
        # Cells starting with a trigger, or to be quoted, are mostly the same few values (a
        # caller ID, +E.164 numbers, cause texts with a comma): remembered.
        self._neutralised = Remembered(_text_cell, 10_000).__getitem__
        self._quote = Remembered(self._quote_cell, 10_000).__getitem__
        cells = {STR: _text_cells, INT: _plain_cells, BOOL: _bool_cells, TS: iso_ms_texts(tz, ""),
                 FLOAT: _decimal_comma_cells if excel else _plain_cells}
        self._cells = [(cells[kind], kind == STR) for _, kind in columns]

    def write_columns(self, columns: Sequence[Sequence]) -> None:
        """Write one batch: *columns* in this writer's column order, of equal length."""
        specials, cells = self._specials, []
        for (to_text, is_text), column in zip(self._cells, columns):
            column = to_text(column)
            # One pass of C string search over the whole column decides whether any cell
            # needs work.
            joined = "\0" + "\0".join(column)
            if is_text and _TRIGGER_AFTER_NUL.search(joined):
                column = list(map(self._neutralised, column))
            if not self._one_column and any(special in joined for special in specials):
                column = list(map(self._quote, column))
            cells.append(column)
        if self._one_column:
            text = self._csv_text(zip(*cells))
        else:
            text = "\r\n".join(map(self._delimiter.join, zip(*cells)))
            text += "\r\n" if text else ""
        self._out.write(text.encode())

    def close(self) -> None:
        self._out.flush()

    def _quote_cell(self, cell: str) -> str:
        if any(special in cell for special in self._specials):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    def _csv_text(self, rows) -> str:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter=self._delimiter).writerows(rows)
        return buffer.getvalue()


def _text_cells(column: Sequence[str | None]) -> Sequence[str]:
    if None in column:
        return ["" if value is None else value for value in column]
    return column


def _text_cell(value: str) -> str:
    return neutralise(value) if value and value[0] in _TRIGGER_SET else value


def _plain_cells(column: Sequence) -> list[str]:
    if None in column:
        return ["" if value is None else str(value) for value in column]
    return list(map(str, column))


_BOOL_TEXT = {None: "", False: "false", True: "true"}


def _bool_cells(column: Sequence[bool | None]) -> list[str]:
    return list(map(_BOOL_TEXT.__getitem__, column))


def _decimal_comma_cells(column: Sequence[float | None]) -> list[str]:
    return ["" if value is None else repr(value).replace(".", ",") for value in column]


class JsonlWriter:
    """One JSON object per line, times as ISO 8601 strings."""

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]], tz: tzinfo):
        self._out, self._names = out, [name for name, _ in columns]
        times = iso_ms_texts(tz)
        self._convert = [times if kind == TS else None for _, kind in columns]
        self._encode = json.JSONEncoder(ensure_ascii=False).encode

    def write_columns(self, columns: Sequence[Sequence]) -> None:
        """Write one batch: *columns* in this writer's column order, of equal length."""
        columns = [column if convert is None else convert(column)
                   for convert, column in zip(self._convert, columns)]
        names, encode = self._names, self._encode
        lines = [encode(dict(zip(names, values))) for values in zip(*columns)]
        if lines:
            self._out.write(("\n".join(lines) + "\n").encode())

    def close(self) -> None:
        self._out.flush()


class ParquetWriter:
    """Typed Parquet: int64, bool, float64, string, timestamp[ms, tz=UTC].

    Each batch becomes a compact Arrow record batch at once (Python objects cost ten times
    more memory than Arrow arrays); they are written as one row group per ``row_group`` rows,
    a size analytics engines read efficiently."""

    def __init__(self, out: IO[bytes], columns: list[tuple[str, str]],
                 row_group: int = PARQUET_ROW_GROUP):
        import pyarrow.parquet as pq  # imported on use: pyarrow is slow to load
        self.schema = arrow_schema(columns)
        self._writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self._batches: list = []
        self._batched, self._row_group = 0, row_group

    def write_columns(self, columns: Sequence[Sequence]) -> None:
        """Write one batch: *columns* in this writer's column order (times as epoch ms)."""
        import pyarrow as pa
        batch = pa.RecordBatch.from_arrays(
            [pa.array(column, type=field.type) for column, field in zip(columns, self.schema)],
            schema=self.schema)
        if batch.num_rows:
            self._batches.append(batch)
            self._batched += batch.num_rows
        if self._batched >= self._row_group:
            self._write_group()

    def close(self) -> None:
        self._write_group()
        self._writer.close()

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

    Example: ``w = make_writer("csv", f, columns, timezone.utc); w.write_columns(batch)``
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
    with atomic_writer(target, 0o600) as out:
        yield out
