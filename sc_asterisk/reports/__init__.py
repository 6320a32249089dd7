"""Analyst room: call-detail export (CSV/JSONL/Parquet), campaign figures, retention plots.

Every report figure is a pure function of export rows, so anyone holding the export can
recompute it. Example::

    from sc_asterisk.reports import ExportOptions, RowFilter, export_cdr, campaign_figures
    export_cdr(db, key, "calls.csv", RowFilter(("muni",)))
    figures = campaign_figures(db, key, "muni")
"""
from .campaign import campaign_figures, demo_report, write_report_files
from .cost import Tariff, billed_seconds
from .export import ExportOptions, export_cdr
from .figures import FigureAccumulator, compute_figures, retention_curve, script_position
from .live import format_live_status
from .rows import RowFilter

__all__ = ["ExportOptions", "FigureAccumulator", "RowFilter", "Tariff", "billed_seconds",
           "campaign_figures", "compute_figures", "demo_report", "export_cdr",
           "format_live_status", "retention_curve", "script_position", "write_report_files"]
