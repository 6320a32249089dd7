"""The reject file: one CSV line per refused row, with its line number, reason and raw cells made
safe to open in a spreadsheet (no formula injection)."""
from __future__ import annotations

import csv
from pathlib import Path
from ..config import open_private

# Leading characters a spreadsheet would evaluate as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Neutralise spreadsheet formulas by prefixing a quote; other text is unchanged.

    Example: ``safe_cell("=HYPERLINK(...)") == "'=HYPERLINK(...)"``
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


class RejectWriter:
    """Streams rejects to *path* (UTF-8 with BOM, so spreadsheets show accents). Example::

        with RejectWriter(Path("rejects.csv"), ["nom", "tel"]) as out:
            out.write(3, "premium-rate", "", ["Dupont", "08 92 12 34 56"])
    """

    def __init__(self, path: Path | None, header: list[str]):
        self._file = open_private(path, "w", encoding="utf-8-sig", newline="") if path else None
        self._csv = csv.writer(self._file) if self._file else None
        if self._csv:
            self._csv.writerow(["line", "reason", "detail"] + [safe_cell(h) for h in header])

    def write(self, line: int, reason: str, detail: str, cells: list[str] | None) -> None:
        if self._csv:
            self._csv.writerow([line, reason, safe_cell(detail)]
                               + [safe_cell(c) for c in cells or ()])

    def close(self) -> None:
        if self._file:
            self._file.close()

    def __enter__(self) -> "RejectWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
