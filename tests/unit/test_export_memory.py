"""A large export runs in constant memory: 120 000 attempts to CSV and to Parquet, each in a
fresh process whose peak RSS is sampled as the rows stream (the 1 M-row figure is a benchmark).

The data is generated inside SQLite with recursive CTEs (seconds, not minutes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.synthetic import T0_MS, create_campaign
from sc_asterisk.db import Database

ROWS = 120_000
# Peak RSS growth allowed over the process's size once imports are done. Measured here: about
# 20 MB for CSV (a 2 000-row batch as Python objects, then as text), 75 MB for Parquet (one
# 50 000-row group being encoded); holding the rows (what `.all()` would do) costs several
# hundred MB.
LIMIT_MB = {"csv": 40, "parquet": 120}
# Once warmed up (past the first Parquet row group), the peak must stop growing with the rows.
WARM_ROWS, STEADY_LIMIT_MB = 70_000, 12

CHILD = r"""
import json, resource, sys
import pyarrow.parquet  # loaded before the baseline: its size is not the export's
from sc_asterisk.db import Database
from sc_asterisk.reports import ExportOptions, export_cdr

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

url, out, fmt, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
db = Database(url)
with db.session() as s:
    s.execute(__import__("sqlalchemy").text("SELECT 1"))
samples = {"base": peak_mb(), "rows": 0}

class Probe:
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def update(self, n):
        samples["rows"] += n
        if "warm" not in samples and samples["rows"] >= warm:
            samples["warm"] = peak_mb()

rows = export_cdr(db, "key", out, options=ExportOptions(fmt=fmt), progress=lambda total: Probe())
samples.update(end=peak_mb(), exported=rows)
print(json.dumps(samples))
"""


def fill(db: Database, n: int) -> None:
    """n contacts and attempts; 60 % answered with message and notice results."""
    cid = create_campaign(db, "big", [("message", 20000), ("notice", 15000)])
    stamp = "'2024-05-01 08:00:00.000000'"
    heard = "(id * 7919 % 36000)"
    with db.engine.begin() as conn:
        conn.execute(text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n - 1})
            INSERT INTO contact (e164, number_type, postcode, attributes, created_at, updated_at)
            SELECT printf('+3319%08d', i), 'fixed_line', printf('%05d', 75001 + i % 20), '{{}}',
                   {stamp}, {stamp} FROM n"""))
        conn.execute(text(f"""
            INSERT INTO call_attempt (id, campaign_id, contact_id, number, attempt_no, state,
                                      node, trunk, created_at, updated_at)
            SELECT printf('%036d', id), {cid}, id, e164, 1, 'finished', 'lab', 'lab', {stamp},
                   {stamp} FROM contact"""))
        conn.execute(text(f"""
            INSERT INTO call_record (attempt_id, direction, outcome, originate_ms, answer_ms,
                                     end_ms, hangup_cause, hung_up_by, caller_id, amd_result,
                                     opted_out)
            SELECT printf('%036d', id), 'outbound',
                   CASE WHEN id % 5 < 3 THEN 'answered' ELSE 'busy' END, {T0_MS} + id * 250,
                   CASE WHEN id % 5 < 3 THEN {T0_MS} + id * 250 + 3000 END,
                   {T0_MS} + id * 250 + 3000 + {heard}, 16, 'callee', '+33199000000', 'HUMAN',
                   id % 33 = 0
            FROM contact"""))
        for position, role, start, length in ((0, "message", 0, 20000),
                                              (1, "notice", 20000, 15000)):
            listened = f"max(0, min({length}, {heard} - {start}))"
            conn.execute(text(f"""
                INSERT INTO segment_listen (attempt_id, position, role, length_ms, listened_ms,
                                            heard_full, stop_reason)
                SELECT printf('%036d', id), {position}, '{role}', {length}, {listened},
                       {listened} = {length},
                       CASE WHEN {listened} = {length} THEN 'end'
                            WHEN {heard} >= {start} THEN 'hangup' ELSE 'not_reached' END
                FROM contact WHERE id % 5 < 3"""))


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("big") / "big.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    fill(db, ROWS)
    return db.url


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_large_export_streams_in_constant_memory(big_db, tmp_path: Path, fmt):
    out = tmp_path / f"big.{fmt}"
    done = subprocess.run([sys.executable, "-c", CHILD, big_db, str(out), fmt, str(WARM_ROWS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    samples = json.loads(done.stdout)
    assert samples["exported"] == ROWS
    growth, steady = samples["end"] - samples["base"], samples["end"] - samples["warm"]
    assert growth < LIMIT_MB[fmt], samples
    assert steady < STEADY_LIMIT_MB, samples
    if fmt == "parquet":
        import pyarrow.parquet as pq
        assert pq.ParquetFile(out).metadata.num_rows == ROWS
    else:
        with out.open() as f:
            assert sum(1 for _ in f) == ROWS + 1
