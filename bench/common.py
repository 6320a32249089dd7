"""What every benchmark shares: the run context, the figure record, the data cache.

A benchmark is a function ``run(ctx: Run) -> list[Figure]`` (plus details in ``ctx.details``).

Example::

    def run(ctx):
        fig = Figure("contact import", "wall", 41.2, "s", goal="< 60 s", met=True)
        return [fig]
"""
from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("SC_ASTERISK_BENCH_CACHE", "/var/tmp/sc-asterisk-bench"))


@dataclass
class Figure:
    """One measured figure beside its baseline. ``met`` is None when the figure has no goal."""

    bench: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None
    goal: str | None = None
    met: bool | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return out


@dataclass
class Run:
    """The context a benchmark runs in: quick or full, where to put scratch files, the lab."""

    quick: bool
    workdir: Path
    lab_offset: int = 4
    results: Path | None = None     # the results file (the scale model reads it back)
    details: dict = field(default_factory=dict)

    def scratch(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def cache_dir() -> Path:
    """Generated inputs (1 M-row files and databases) are kept here between runs.

    Example: ``cache_dir() / "contacts-1000000-v3.csv"``
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


def summary(values: list[float]) -> dict:
    """Median, 95th percentile and max of absolute values, plus the signed median.

    Example: ``summary([-3, 1, 2])["median_abs"] == 2``
    """
    if not values:
        return {"n": 0}
    absolute = sorted(abs(v) for v in values)
    p95 = absolute[min(len(absolute) - 1, int(round(0.95 * (len(absolute) - 1))))]
    return {"n": len(values), "median_abs": statistics.median(absolute), "p95_abs": p95,
            "max_abs": absolute[-1], "median_signed": statistics.median(values),
            "mean_signed": statistics.fmean(values)}


def r(value: float | None, digits: int = 3) -> float | None:
    """Rounded, None kept. Example: ``r(1.23456, 2) == 1.23``"""
    return None if value is None else round(value, digits)
