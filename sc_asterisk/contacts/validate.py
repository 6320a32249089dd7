"""Row validation in chunks, on worker processes when the file is large.

Number parsing (phonenumbers) costs about as much CPU as the database writes, so a large import
hands reading and validation to worker processes while the parent only writes. Each worker reads
the whole file itself (parsing CSV is cheap) and validates every Nth chunk: no raw row has to
travel between processes, only the records. Chunks come back in file order, so the result is
the same as a sequential run.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from datetime import date, datetime
from typing import Iterable, Iterator

from ..errors import ScError
from .mapping import ColumnMap, Record, RowParser, RowRejected
from .numbers import NumberRejected
from .reader import Progress, Row, TableFile

PARALLEL_FROM_BYTES = 4 << 20  # below this, starting workers costs more than it saves
# A valid row has no NUL (such rows are refused), so NUL joins its cells reversibly: one string
# per row is far cheaper to send back from a worker than a list of cells.
_SEP = "\x00"


class WorkerDied(ScError):
    """A validation process ended without a word (killed, out of memory)."""


@dataclass(frozen=True)
class Validator:
    """Everything a worker needs to validate rows."""

    columns: ColumnMap
    region: str
    today: date
    legal_basis: str | None
    address_date: datetime | None = None  # the file's addresses were confirmed then

    def parser(self) -> RowParser:
        return RowParser(self.columns, self.region, self.today, self.legal_basis,
                         self.address_date)


@dataclass
class Checked:
    """One validated chunk of ``rows`` data rows, in file order: the valid ones as
    (line, record, raw), the refused ones as (line, reason, detail, cells). ``cells_of(raw)``
    gives back a valid row's cells, for the rare row refused later (an erased number)."""

    rows: int
    valid: list[tuple[int, Record, str]]
    refused: list[tuple[int, str, str, list[str] | None]]


def cells_of(raw: str) -> list[str]:
    """The cells of a valid row from its ``raw`` form in ``Checked.valid``.

    Example: ``cells_of(checked.valid[0][2])[0] == "Dupont"``
    """
    return raw.split(_SEP)


def check_rows(parser: RowParser, rows: Iterable[Row]) -> Checked:
    """Validate rows in order.

    Example: ``check_rows(validator.parser(), [Row(2, ["Dupont", "06 12 34 56 78"])])``
    """
    valid, refused, n = [], [], 0
    record = parser.record
    for line, cells in rows:
        n += 1
        try:
            if cells is None:
                raise RowRejected("unparseable-row")
            valid.append((line, record(cells), _SEP.join(cells)))
        except (RowRejected, NumberRejected) as exc:
            refused.append((line, exc.reason, getattr(exc, "detail", ""), cells))
    return Checked(n, valid, refused)


def auto_workers(total_bytes: int) -> int:
    """Worker processes for a file of this size: none for small files, else one per core
    beside the one that writes to the database.

    Example: ``auto_workers(100_000_000) == min(4, os.cpu_count() - 1)``
    """
    return 0 if total_bytes < PARALLEL_FROM_BYTES else max(0, min(4, (os.cpu_count() or 1) - 1))


def checked_chunks(table: TableFile, validator: Validator, size: int, workers: int = 0,
                   progress: Progress | None = None) -> Iterator[Checked]:
    """Validated chunks of *size* rows of *table*, in file order; ``table.blank_rows`` is set
    once the last chunk is out.

    Example: ``for checked in checked_chunks(table, validator, 5000, workers=2): ...``
    """
    if workers <= 0:
        parser = validator.parser()
        for chunk in _chunks(table.rows(progress), size):
            yield check_rows(parser, chunk)
        return
    context = multiprocessing.get_context()
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]  # (parent's end, worker's end)
    procs = [context.Process(target=_read_and_check, name=f"sc-import-validate-{i}",
                             args=(table, validator, size, i, pipes), daemon=True)
             for i in range(workers)]
    for proc in procs:
        proc.start()
    for _, end in pipes:
        end.close()  # held by its worker only now: when the worker ends, reading it fails
    try:
        reported, turn = 0, 0
        while True:
            kind, value, done = _receive(pipes[turn][0], procs[turn])
            if progress is not None and done > reported:
                progress(done - reported)
                reported = done
            if kind == "end":  # chunks are dealt in turn: when this worker has none left,
                table.blank_rows = value  # no worker has
                return
            yield _unpacked(value)
            turn = (turn + 1) % workers
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # stopped early (an error while writing): nothing to wait for
        for proc in procs:
            proc.join()
        for end, _ in pipes:
            end.close()


def _read_and_check(table: TableFile, validator: Validator, size: int, index: int,
                    pipes: list) -> None:
    """A worker: read the whole file, validate chunks index, index + N, ... (N workers) and send
    them. A send waits until the parent has read the previous one, so at most one chunk is
    ahead of the database."""
    pipe = pipes[index][1]
    for theirs, other in pipes:  # only this worker's end stays open here: when the parent
        theirs.close()           # is gone, sending fails instead of waiting forever
        if other is not pipe:
            other.close()
    try:
        done = [0]

        def progress(n: int) -> None:
            done[0] += n

        parser = validator.parser()
        for number, chunk in enumerate(_chunks(table.rows(progress), size)):
            if number % len(pipes) == index:
                pipe.send(("chunk", _packed(check_rows(parser, chunk)), done[0]))
        pipe.send(("end", table.blank_rows, done[0]))
    except BrokenPipeError:  # the parent is gone (killed): nobody to tell
        pass
    except BaseException as exc:  # raised again in the parent, which is waiting for this worker
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        exc.add_note("in the contact validation process:\n" + traceback.format_exc())
        with suppress(BrokenPipeError):
            pipe.send(("error", exc, 0))


def _packed(checked: Checked) -> tuple:
    """A chunk as plain tuples and lists, which pickle several times faster than named tuples
    (one Python call each way per object)."""
    lines, records, raws = zip(*checked.valid) if checked.valid else ((), (), ())
    return checked.rows, lines, list(map(tuple, records)), raws, checked.refused


def _unpacked(packed: tuple) -> Checked:
    rows, lines, records, raws, refused = packed
    # tuple.__new__ called from C: Record._make is a Python call per row (the worker made
    # each tuple from a Record, so the length is right).
    return Checked(rows, list(zip(lines, map(_AS_RECORD, records), raws)), refused)


_AS_RECORD = partial(tuple.__new__, Record)


def _receive(pipe, proc) -> tuple:
    try:
        message = pipe.recv()
    except EOFError:  # its end of the pipe closed without a word: killed, out of memory...
        proc.join()
        raise WorkerDied(f"a contact validation process ended (exit code {proc.exitcode})",
                         fix="run the same import again: the chunks already written are kept, "
                             "not written twice") from None
    if message[0] == "error":
        raise message[1]
    return message


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
