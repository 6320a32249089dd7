"""CDR export: 1 M call records (``synthetic.py``) written to CSV and to Parquet by
``sc-asterisk cdr export`` in a fresh process; baseline ``sqlite3 -csv`` running one SQL query
that joins the same tables into the same columns (times as ISO text) on the same database.

Our export does more per row than the baseline (HMAC pseudonym of every number, Q.850 cause
text, region from the postcode, typed Parquet): the ratio says what that costs.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .common import Figure, Run, cache_dir, r
from .machine import timed_run

DATA_VERSION = 1
SCRIPT = [("message", 20000), ("notice", 15000)]
GOAL_RATIO = 3.0

_ISO = "strftime('%Y-%m-%dT%H:%M:%fZ', {} / 1000.0, 'unixepoch')"
BASELINE_SQL = f"""
SELECT a.id AS attempt_id, c.name AS campaign, r.direction, a.attempt_no, a.state, a.node,
       a.trunk, r.caller_id, a.number, ct.number_type, ct.postcode,
       {_ISO.format('r.originate_ms')} AS originate_at, {_ISO.format('r.answer_ms')} AS answer_at,
       {_ISO.format('r.end_ms')} AS end_at,
       COALESCE(r.answer_ms, r.end_ms) - r.originate_ms AS ring_ms,
       r.end_ms - r.answer_ms AS connected_ms, r.outcome, r.hangup_cause, r.hangup_cause_txt,
       r.hung_up_by, r.amd_result, r.amd_cause,
       m.length_ms, m.listened_ms, m.heard_full, m.stop_reason,
       n.length_ms, n.listened_ms, n.heard_full, n.stop_reason, r.opted_out
FROM call_attempt a
JOIN campaign c ON c.id = a.campaign_id
LEFT JOIN call_record r ON r.attempt_id = a.id
LEFT JOIN contact ct ON ct.id = a.contact_id
LEFT JOIN segment_listen m ON m.attempt_id = a.id AND m.role = 'message'
LEFT JOIN segment_listen n ON n.attempt_id = a.id AND n.role = 'notice'
ORDER BY a.campaign_id, r.originate_ms, a.id;
"""


def bench_home() -> Path:
    """The home (installation key) that goes with the cached databases."""
    return cache_dir() / "home"


def cdr_database(calls: int):
    """The cached SQLite database holding *calls* synthetic call records (built on first use)."""
    from sc_asterisk.config import Settings
    from sc_asterisk.db import Database
    from sc_asterisk.keys import key_init

    from .synthetic import create_campaign, insert_calls, synthetic_calls
    path = cache_dir() / f"cdr-{calls}-v{DATA_VERSION}.db"
    if not path.exists():
        tmp = path.with_suffix(".part")
        for leftover in tmp.parent.glob(tmp.name + "*"):
            leftover.unlink()
        db = Database(f"sqlite:///{tmp}")
        db.upgrade()
        campaign = create_campaign(db, "bench", SCRIPT)
        insert_calls(db, campaign, synthetic_calls(calls, SCRIPT))
        db.engine.dispose()
        os.replace(tmp, path)
    db = Database(f"sqlite:///{path}")
    db.upgrade()           # a newer schema since the cache was built
    # the export checks its key against the database: the cache keeps both (key init is
    # idempotent, and makes the key the first time)
    key_init(Settings.load(db_url=db.url, home=bench_home()), db)
    db.engine.dispose()
    return path


def run(ctx: Run) -> list[Figure]:
    """Export to CSV and Parquet beside the sqlite3 baseline. Example: ``run(Run(True, w))``"""
    calls = 100_000 if ctx.quick else 1_000_000
    source = cdr_database(calls)
    work = ctx.scratch("export")
    env = {**os.environ, "SC_ASTERISK_HOME": str(bench_home()),
           "SC_ASTERISK_DB": f"sqlite:///{source}"}
    # Warm the OS page cache the same way for every contender.
    timed_run(["sqlite3", str(source), "SELECT count(*) FROM segment_listen;"], stdout=-1,
              stderr=-1)
    with open(work / "baseline.csv", "wb") as out:
        base = timed_run(["sqlite3", "-csv", "-header", str(source), BASELINE_SQL], stdout=out,
                         stderr=-1)
    results, figures = {"sqlite3_csv": _clean(base)}, []
    for fmt in ("csv", "parquet"):
        target = work / f"calls.{fmt}"
        ours = timed_run([sys.executable, "-m", "sc_asterisk", "cdr", "export",
                          "--format", fmt, "-o", str(target)], env=env, stdout=-1, stderr=-1)
        results[fmt] = {**_clean(ours), "mb": r(target.stat().st_size / 1048576, 1)}
        ratio = ours["wall_s"] / base["wall_s"]
        figures.append(Figure(
            "export", f"CDR export {calls // 1000}k to {fmt}: wall", r(ours["wall_s"], 2), "s",
            r(base["wall_s"], 2), "sqlite3 -csv", goal=f"<= {GOAL_RATIO:g}x baseline",
            met=ratio <= GOAL_RATIO,
            note=f"{calls / ours['wall_s']:,.0f} rows/s, peak {ours['peak_rss_mb']:.0f} MB"))
    results["baseline_mb"] = r((work / "baseline.csv").stat().st_size / 1048576, 1)
    results["calls"] = calls
    ctx.details["export"] = results
    return figures


def _clean(measure: dict) -> dict:
    return {k: r(v) for k, v in measure.items() if k != "stdout"}
