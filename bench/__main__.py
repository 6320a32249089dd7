"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, print the table, and
update ``bench/results.json`` (a benchmark not run this time keeps its previous entry).

Example::

    python -m bench --quick --only export contacts
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import codec, concurrency, console, contacts, export, listen, pacing, scale
from .common import Figure, Run
from .machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results.json"
# Lab benchmarks first: they are the ones another developer's load disturbs least when early.
BENCHMARKS = {
    "listen": listen.run,
    "pacing": pacing.run,
    "console": console.run,
    "codec": codec.run,
    "concurrency": concurrency.run,
    "contacts": contacts.run,
    "export": export.run,
    "scale": scale.run,       # arithmetic on the figures above (read back from results.json)
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks (each beside its baseline), print a table and merge the "
                    "figures into bench/results.json.")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes (under five minutes in all)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--lab-offset", type=int, default=4,
                        help="port offset of the bench's own lab Asterisk (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--results", type=Path, default=RESULTS, metavar="FILE",
                        help=f"where to merge the results (default {RESULTS.name})")
    args = parser.parse_args(argv)
    results_file = args.results
    names = args.only or list(BENCHMARKS)
    workdir = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    results = _load(results_file)
    machine = machine_info()
    print(f"machine: {machine['cores']} cores, {machine['cpu_model']}, "
          f"load {machine['load_avg']}", flush=True)
    figures: list[Figure] = []
    try:
        for name in names:
            ctx = Run(quick=args.quick, workdir=workdir, lab_offset=args.lab_offset,
                      results=results_file)
            start, load_before = time.monotonic(), machine_info()["load_avg"]
            print(f"-- {name} ...", flush=True)
            try:
                found = BENCHMARKS[name](ctx)
                error = None
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                found, error = [], f"{type(exc).__name__}: {exc}"
            figures += found
            results["benchmarks"][name] = {
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "quick": args.quick, "seconds": round(time.monotonic() - start, 1),
                "load_avg_before": load_before, "load_avg_after": machine_info()["load_avg"],
                "machine": machine, "error": error,
                "figures": [f.as_dict() for f in found], "details": ctx.details}
            _save(results, results_file)
            print(table(found), flush=True)
    finally:
        if args.keep:
            print(f"scratch kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + table(figures))
    print(f"\nwritten: {results_file}")
    return 0


def table(figures: list[Figure]) -> str:
    """The figures as a fixed-width text table."""
    head = ("figure", "measured", "baseline", "ratio", "goal", "met")
    rows = [head]
    for f in figures:
        base = "" if f.baseline is None else f"{_num(f.baseline)} {f.unit} ({f.baseline_name})"
        rows.append((f"{f.bench}: {f.name}", f"{_num(f.value)} {f.unit}", base,
                     "" if f.ratio is None else f"{f.ratio:.2f}", f.goal or "",
                     {True: "yes", False: "NO", None: ""}[f.met]))
        if f.note:
            rows.append(("", f"  {f.note}", "", "", "", ""))
    widths = [min(52, max(len(row[i]) for row in rows)) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,.0f}"


def _load(path: Path = RESULTS) -> dict:
    """The results file as it is: other writers (the soak test's "soak" key) are kept."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if not isinstance(data.get("benchmarks"), dict):
        data["benchmarks"] = {}
    return data


def _save(results: dict, path: Path = RESULTS) -> None:
    # Re-read first: another writer may have added its key while the benchmarks ran.
    merged = _load(path)
    merged["benchmarks"].update(results["benchmarks"])
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
