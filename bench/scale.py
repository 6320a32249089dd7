"""The scale model: nodes and controllers for 500 k calls in 4 h, from the per-call costs the
other benchmarks measured (read back from results.json; nothing is measured here).

Asterisk CPU per call is fitted as ``fixed + per_second × hold`` over every lab campaign
(2 s holds in pacing, 8-14 s in the concurrency ramp); the controller's CPU per call does not
depend on the hold (it works at the start and the end of a call).
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from .common import Figure, Run, r

CALLS, HOURS, CALL_S = 500_000, 4, 60
TARGET_UTILISATION = 0.7      # leave 30 % for bursts, retries and the unexpected
NODE_CORES = 2                # nodes like this machine
RESULTS = Path(__file__).resolve().parent / "results.json"


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line y = a + b x through (x, y) points.

    Example: ``fit([(2, 10), (10, 26)]) == (6.0, 2.0)``
    """
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0
    return my - b * mx, b


def model(bench: dict) -> dict:
    """The arithmetic, from the ``benchmarks`` entry of results.json."""
    pacing = bench.get("pacing", {}).get("details", {}).get("pacing", {})
    steps = bench.get("concurrency", {}).get("details", {}).get("concurrency", {}).get("steps", [])
    asterisk_points, controller_ms = [], []
    for row in pacing.values():
        asterisk_points.append((row["hold_ms"] / 1000, row["asterisk_ms_per_call"]))
        controller_ms.append(row["controller_ms_per_call"])
    for row in steps:
        asterisk_points.append((row["hold_ms"] / 1000, 1000 * row["asterisk_cpu_s"] / row["calls"]))
        controller_ms.append(1000 * row["controller_cpu_s"] / row["calls"])
    if len({x for x, _ in asterisk_points}) < 2:
        return {"error": "run the pacing and concurrency benchmarks first"}
    fixed, per_s = fit(asterisk_points)
    ctl = statistics.median(controller_ms)
    cps = CALLS / (HOURS * 3600)
    concurrent = cps * CALL_S
    asterisk_cores = cps * (fixed + per_s * CALL_S) / 1000
    controller_cores = cps * ctl / 1000
    knee = bench.get("concurrency", {}).get("details", {}).get("concurrency", {}).get("knee")
    out = {
        "calls": CALLS, "hours": HOURS, "call_s": CALL_S, "cps": r(cps, 1),
        "concurrent": round(concurrent),
        "asterisk_ms_per_call_fixed": r(fixed, 2), "asterisk_ms_per_call_second": r(per_s, 3),
        "asterisk_ms_per_60s_call": r(fixed + per_s * CALL_S, 1),
        "controller_ms_per_call": r(ctl, 1),
        "asterisk_cores": r(asterisk_cores, 2), "controller_cores": r(controller_cores, 2),
        "nodes_by_cpu": math.ceil(asterisk_cores / (NODE_CORES * TARGET_UTILISATION)),
        "controllers_by_cpu": math.ceil(controller_cores / TARGET_UTILISATION),
        "controller_to_asterisk_at_60s": r(ctl / (fixed + per_s * CALL_S), 3),
        "measured_knee_per_node": knee,
        "nodes_by_knee": math.ceil(concurrent / knee) if knee else None,
    }
    contacts = bench.get("contacts", {}).get("details", {}).get("contacts", {})
    if contacts.get("ours"):
        out["import_500k_s"] = r(CALLS / contacts["rows"] * contacts["ours"]["wall_s"], 0)
    export = bench.get("export", {}).get("details", {}).get("export", {})
    if export.get("parquet"):
        out["export_500k_parquet_s"] = r(CALLS / export["calls"] * export["parquet"]["wall_s"], 0)
    return out


def run(ctx: Run) -> list[Figure]:
    """The model from results.json. Example: ``run(Run(quick=False, workdir=w))``"""
    try:
        bench = json.loads((ctx.results or RESULTS).read_text()).get("benchmarks", {})
    except (FileNotFoundError, ValueError):
        bench = {}
    m = model(bench)
    ctx.details["scale"] = m
    if "error" in m:
        return [Figure("scale", "scale model", None, "", note=m["error"])]
    return [
        Figure("scale", f"{CALLS // 1000}k calls in {HOURS} h: CPS, concurrent calls", m["cps"],
               "calls/s", note=f"{m['concurrent']} concurrent {CALL_S} s calls"),
        Figure("scale", "Asterisk nodes (2 cores, 70 % busy)", m["nodes_by_cpu"], "nodes",
               note=f"{m['asterisk_cores']} cores: {m['asterisk_ms_per_60s_call']} ms CPU per "
                    f"60 s call ({m['asterisk_ms_per_call_fixed']} + "
                    f"{m['asterisk_ms_per_call_second']} x s)"),
        Figure("scale", "Asterisk nodes by the measured knee", m["nodes_by_knee"], "nodes",
               note=f"{m['concurrent']} calls / {m['measured_knee_per_node']} per node "
                    "(a floor: no loss up to the ramp's last step)"),
        Figure("scale", "controller / Asterisk CPU for 60 s calls",
               m["controller_to_asterisk_at_60s"], "", goal="<= 0.05",
               met=m["controller_to_asterisk_at_60s"] <= 0.05),
        Figure("scale", "controllers (1 core each, 70 % busy)", m["controllers_by_cpu"],
               "processes", note=f"{m['controller_cores']} cores at "
                                 f"{m['controller_ms_per_call']} ms CPU per call"),
    ]
