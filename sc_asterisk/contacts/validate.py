"""Row validation in chunks, on worker processes when the file is large.

Number parsing (phonenumbers) costs more CPU than the database writes, so a large import
validates chunk N+1 on other cores while the database takes chunk N. Chunks come back in file
order, so the result is the same as a sequential run.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from datetime import date
from operator import attrgetter
from typing import Iterable, Iterator

from .mapping import ColumnMap, Record, RowRejected, to_record
from .numbers import NumberRejected, PhoneInfo
from .reader import Row

PARALLEL_FROM_BYTES = 4 << 20  # below this, starting workers costs more than it saves

# Records travel back from the workers as plain tuples: pickling a slots dataclass goes through
# a generic __getstate__ that looks the fields up for every object, and cost more than the
# validation itself at a million rows. Both constructors take their fields in this order.
_RECORD_FIELDS = attrgetter(*(f.name for f in fields(Record)))
_PHONE_FIELDS = attrgetter(*(f.name for f in fields(PhoneInfo)))


@dataclass(frozen=True)
class Validator:
    """Everything a worker needs to validate rows (picklable)."""

    columns: ColumnMap
    region: str
    today: date
    legal_basis: str | None


@dataclass
class Checked:
    """One validated chunk: the rows, the valid ones as (index, record), the refused ones as
    (index, reason, detail). Indexes point into ``rows``."""

    rows: list[Row]
    valid: list[tuple[int, Record]]
    refused: list[tuple[int, str, str]]


def check_chunk(validator: Validator, rows: list[Row]) -> tuple[list, list]:
    """Validate one chunk of rows: (valid, refused) as in ``Checked``. Only indexes and records
    travel back from a worker, not the raw cells the parent already holds.

    Example: ``valid, refused = check_chunk(Validator(cmap, "FR", date.today(), None), rows)``
    """
    valid, refused = [], []
    for index, row in enumerate(rows):
        try:
            if row.cells is None:
                raise RowRejected("unparseable-row")
            valid.append((index, to_record(row.cells, validator.columns, validator.region,
                                           validator.today, validator.legal_basis)))
        except (RowRejected, NumberRejected) as exc:
            refused.append((index, exc.reason, getattr(exc, "detail", "")))
    return valid, refused


def _check_packed(validator: Validator, rows: list[Row]) -> tuple[list, list]:
    """check_chunk on a worker: the records packed as tuples for the trip back."""
    valid, refused = check_chunk(validator, rows)
    packed = []
    for index, record in valid:
        values = _RECORD_FIELDS(record)
        packed.append((index, (_PHONE_FIELDS(values[0]), *values[1:])))
    return packed, refused


def _unpacked(packed: list) -> list[tuple[int, Record]]:
    return [(index, Record(PhoneInfo(*values[0]), *values[1:])) for index, values in packed]


def auto_workers(total_bytes: int) -> int:
    """Worker processes for a file of this size: none for small files, else one per core
    beside the one that writes to the database.

    Example: ``auto_workers(100_000_000) == min(4, os.cpu_count() - 1)``
    """
    return 0 if total_bytes < PARALLEL_FROM_BYTES else max(0, min(4, (os.cpu_count() or 1) - 1))


def checked_chunks(rows: Iterable[Row], validator: Validator, size: int,
                   workers: int = 0) -> Iterator[Checked]:
    """Validated chunks of *size* rows, in file order.

    Example: ``for checked in checked_chunks(table.rows(), validator, 5000, workers=2): ...``
    """
    chunks = _chunks(rows, size)
    if workers <= 0:
        for chunk in chunks:
            yield Checked(chunk, *check_chunk(validator, chunk))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(_check_packed, validator, chunk)))
            # Bounded read-ahead keeps memory flat whatever the file size.
            if len(pending) > workers * 2:
                yield _checked(*pending.popleft())
        while pending:
            yield _checked(*pending.popleft())


def _checked(chunk: list[Row], future) -> Checked:
    packed, refused = future.result()
    return Checked(chunk, _unpacked(packed), refused)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
