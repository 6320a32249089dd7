"""``cdr export`` as a library call: filter, stream, write, audit clear-number exports."""
from __future__ import annotations

import gc
import io
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Callable, ContextManager, Iterator, Mapping

from ..contacts.audit import record_audit
from ..db import Database
from .columns import choose_fields, columns_for
from .cost import Tariff, tariff_lookup
from .rows import RowFilter, count_rows, iter_batches, open_rows
from .writers import atomic_output, check_format, check_output, make_writer

# A factory called with the row count that returns a context manager with ``update(n)``
# (``click.progressbar`` fits).
ProgressFactory = Callable[[int], ContextManager]


@dataclass(frozen=True)
class ExportOptions:
    """How to write the export. Example: ``ExportOptions(fmt="parquet", fields=("outcome",))``."""

    fmt: str = "csv"
    fields: tuple[str, ...] = ()
    pseudonymise: bool = True
    excel: bool = False
    tz: tzinfo = timezone.utc
    tariffs: Tariff | Mapping[str, Tariff] | None = None


def export_cdr(db: Database, key: str | bytes, output: str, filt: RowFilter = RowFilter(),
               options: ExportOptions = ExportOptions(), progress: ProgressFactory | None = None,
               actor: str | None = None) -> int:
    """Write one row per call attempt to *output* (``-`` for stdout); return the row count.

    Options are checked before anything is written. Exporting clear numbers
    (``pseudonymise=False``) writes an audit entry first, committed even if the export fails.
    The file appears only when complete.

    Example::

        n = export_cdr(db, settings.secret("installation-key"), "calls.parquet",
                       RowFilter(campaigns=("muni",)), ExportOptions(fmt="parquet"))
    """
    if output != "-":
        check_output(output)
    plan = plan_export(db, filt, options, actor=actor, output=output)
    with atomic_output(output) as out:
        for chunk in stream_export(db, key, plan, progress):
            out.write(chunk)
    return plan.rows


@dataclass
class ExportPlan:
    """A checked export: its filter, options and columns; ``rows`` counts what was streamed."""

    filter: RowFilter
    options: ExportOptions
    columns: list[tuple[str, str]]
    rows: int = 0


def plan_export(db: Database, filt: RowFilter = RowFilter(),
                options: ExportOptions = ExportOptions(), *, actor: str | None = None,
                output: str = "-", audit: bool | None = None) -> ExportPlan:
    """Check an export before any byte is written (format, campaign names, fields) and audit
    it: always when *audit* is True, else when numbers are clear (the default). The audit
    entry is committed at once, so it stays even if the export then fails.

    Example: ``plan = plan_export(db, RowFilter(("muni",)), actor="web:alice", audit=True)``
    """
    check_format(options.fmt, options.excel)
    with db.session() as s:
        src = open_rows(s, filt)
        columns = choose_fields(columns_for(src.roles, options.pseudonymise), options.fields)
        if audit or (audit is None and not options.pseudonymise):
            record_audit(s, "cdr-export" if options.pseudonymise else "cdr-export-clear-numbers",
                         None, {
                             "campaigns": list(filt.campaigns) or "all",
                             "since": filt.since.isoformat() if filt.since else None,
                             "until": filt.until.isoformat() if filt.until else None,
                             "format": options.fmt, "output": output,
                             "fields": [name for name, _ in columns]}, actor)
    return ExportPlan(filt, options, columns)


def stream_export(db: Database, key: str | bytes, plan: ExportPlan,
                  progress: ProgressFactory | None = None) -> Iterator[bytes]:
    """The export's bytes, a batch of rows at a time (constant memory); ``plan.rows`` counts
    the rows written so far. The one writer of the file export and the HTTP download.

    Example::

        plan = plan_export(db, RowFilter(("muni",)), ExportOptions(fmt="jsonl"))
        body = b"".join(stream_export(db, key, plan))
    """
    options = plan.options
    tariffs = tariff_lookup(options.tariffs) if options.tariffs is not None else None
    buffer = _Chunks()
    with db.session() as s:
        src = open_rows(s, plan.filter)
        names = [name for name, _ in columns_for(src.roles, options.pseudonymise)]
        picked = [names.index(name) for name, _ in plan.columns]
        bar = progress(count_rows(src)) if progress else nullcontext()
        with bar as bar, _long_lived_objects_frozen():
            writer = make_writer(options.fmt, buffer, plan.columns, options.tz, options.excel)
            yield buffer.take()
            for batch in iter_batches(src, key, options.pseudonymise, tariffs,
                                      bar.update if bar is not None else None):
                writer.write_columns([batch[i] for i in picked])
                plan.rows += len(batch[0])
                yield buffer.take()
            writer.close()
            yield buffer.take()


class _Chunks(io.RawIOBase):
    """A write-only stream that hands what was written out in chunks (``take``); ``tell`` is
    the total written, which is all a Parquet writer asks of its file."""

    def __init__(self):
        super().__init__()
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


@contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    # Rows live for a batch, long enough to reach the oldest generation: every few batches a
    # full collection then walks every object of the process (SQLAlchemy, pyarrow...), a tenth
    # of the export's time. Frozen, those are skipped; the rows are still collected.
    if gc.get_freeze_count():   # the process froze its heap itself: leave that as it is
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
