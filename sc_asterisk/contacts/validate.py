"""Row validation in chunks, on worker processes when the file is large.

Number parsing (phonenumbers) costs more CPU than the database writes, so a large import
validates chunk N+1 on other cores while the database takes chunk N. Chunks come back in file
order, so the result is the same as a sequential run.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing.reduction import ForkingPickler
from typing import Iterable, Iterator

from .mapping import ColumnMap, Record, RowRejected, to_record
from .numbers import NumberRejected
from .reader import Row

PARALLEL_FROM_BYTES = 4 << 20  # below this, starting workers costs more than it saves


def _reduce_record(record: Record):
    # A slots dataclass pickles through a generic __getstate__ that looks its fields up for
    # every object: sending a million records back from the workers cost more than their
    # validation. Its constructor takes the slots in order.
    return Record, tuple(getattr(record, name) for name in Record.__slots__)


ForkingPickler.register(Record, _reduce_record)  # only for pickles between processes


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
            pending.append((chunk, pool.submit(check_chunk, validator, chunk)))
            # Bounded read-ahead keeps memory flat whatever the file size.
            if len(pending) > workers * 2:
                chunk, future = pending.popleft()
                yield Checked(chunk, *future.result())
        while pending:
            chunk, future = pending.popleft()
            yield Checked(chunk, *future.result())


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
