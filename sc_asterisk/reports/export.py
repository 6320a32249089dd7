"""``cdr export`` as a library call: filter, stream, write, audit clear-number exports."""
from __future__ import annotations

import gc
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
    check_format(options.fmt, options.excel)
    if output != "-":
        check_output(output)
    with db.session() as s:
        src = open_rows(s, filt)
        columns = choose_fields(columns_for(src.roles, options.pseudonymise), options.fields)
        if not options.pseudonymise:
            record_audit(s, "cdr-export-clear-numbers", None, {
                "campaigns": list(filt.campaigns) or "all",
                "since": filt.since.isoformat() if filt.since else None,
                "until": filt.until.isoformat() if filt.until else None,
                "format": options.fmt, "output": output,
                "fields": [name for name, _ in columns]}, actor)
    rows = 0
    tariffs = tariff_lookup(options.tariffs) if options.tariffs is not None else None
    with db.session() as s:
        src = open_rows(s, filt)
        names = [name for name, _ in columns_for(src.roles, options.pseudonymise)]
        picked = [names.index(name) for name, _ in columns]
        bar = progress(count_rows(src)) if progress else nullcontext()
        with atomic_output(output) as out, bar as bar, _long_lived_objects_frozen():
            writer = make_writer(options.fmt, out, columns, options.tz, options.excel)
            for batch in iter_batches(src, key, options.pseudonymise, tariffs,
                                      bar.update if bar is not None else None):
                writer.write_columns([batch[i] for i in picked])
                rows += len(batch[0])
            writer.close()
    return rows


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
