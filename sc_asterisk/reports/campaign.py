"""``report CAMPAIGN`` as library calls: figures from the export's own row stream, then files."""
from __future__ import annotations

import io
import json
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Mapping

from ..db import Database
from .columns import role_prefix
from .cost import Tariff, tariff_lookup
from .export import ExportOptions, export_cdr
from .figures import FigureAccumulator
from .render import plot_retention, render_html
from .rows import RowFilter, iter_rows, open_rows
from .writers import atomic_output


def campaign_figures(db: Database, key: str | bytes, campaign: str, *, min_listen_s: int = 10,
                     tariffs: Tariff | Mapping[str, Tariff] | None = None,
                     tz: tzinfo = timezone.utc) -> dict:
    """Every report figure for *campaign*, computed over exactly the rows ``cdr export`` writes.

    Example: ``campaign_figures(db, key, "muni", min_listen_s=10)["listen"]["heard_min_rate"]``
    """
    with db.session() as s:
        src = open_rows(s, RowFilter((campaign,)))
        acc = FigureAccumulator([role_prefix(r) for r in src.roles], min_listen_s, tz,
                                tariff_lookup(tariffs) if tariffs is not None else None)
        acc.campaigns.add(campaign)  # named even before its first attempt
        for row in iter_rows(src, key):
            acc.add(row)
    return acc.result()


def write_report_files(figures: dict, plot: str | Path | None = None,
                       html: str | Path | None = None) -> None:
    """Write the retention PNG and/or the HTML report (which embeds the PNG).

    Example: ``write_report_files(figures, plot="retention.png", html="report.html")``
    """
    if plot is None and html is None:
        return
    png = io.BytesIO()
    plot_retention(figures, png)
    if plot is not None:
        _write_atomic(Path(plot), png.getvalue())
    if html is not None:
        _write_atomic(Path(html), render_html(figures, png.getvalue()).encode())


def demo_report(db: Database, campaign_name: str, out_dir: str | Path,
                key: str | bytes | None = None) -> dict:
    """After the lab demo: export the campaign (CSV + Parquet) and write its report files.

    Returns the figures and the paths written. *key* defaults to this installation's key.

    Example::

        out = demo_report(db, "demo-20240501-120000", "/tmp/demo-report")
        assert Path(out["png"]).stat().st_size > 0
    """
    if key is None:
        from ..config import Settings
        from ..keys import load_key
        key = load_key(Settings.load(db_url=db.url), db)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"{campaign_name}.csv", "parquet": out / f"{campaign_name}.parquet",
             "png": out / "retention.png", "html": out / "report.html",
             "json": out / "figures.json"}
    filt = RowFilter((campaign_name,))
    export_cdr(db, key, str(paths["csv"]), filt, ExportOptions(fmt="csv"))
    export_cdr(db, key, str(paths["parquet"]), filt, ExportOptions(fmt="parquet"))
    figures = campaign_figures(db, key, campaign_name)
    write_report_files(figures, plot=paths["png"], html=paths["html"])
    _write_atomic(paths["json"], json.dumps(figures, indent=2).encode())
    return {"figures": figures, **{k: str(v) for k, v in paths.items()}}


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_output(str(path)) as out:
        out.write(data)
