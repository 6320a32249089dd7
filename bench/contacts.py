"""Contact import: a generated French contact file (1 M rows, 5 % invalid numbers) imported by
``sc-asterisk contacts import`` in a fresh process; baseline ``sqlite3 .import`` of the same file.

Both run as subprocesses so their wall time and peak RSS (process tree, sampled every 0.1 s)
are measured the same way. The file is generated once per size and cached.

With ``SC_ASTERISK_BENCH_PG`` set to a PostgreSQL server URL (a user who may create databases),
the same file is also imported into a throw-away database there (the COPY path), beside
``psql``'s ``\\copy`` of the file into a table of text columns, and the rate is projected to
the 41 M rows of the seed story.

With ``SC_ASTERISK_BENCH_BEFORE`` set to a source tree of another version (e.g. ``git archive``
of an older commit), that version's import of the same file runs first, in the same run, as a
second baseline (before/after on the same machine at the same time).
"""
from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import uuid

from .common import Figure, Run, cache_dir, r
from .machine import timed_run

GENERATOR_VERSION = 3
INVALID_SHARE = 0.05
SEED_STORY_ROWS = 41_000_000  # the contact base of the seed story, for the projection
HEADER = "Nom;Prénom;Téléphone;Code postal;Commune;Date de naissance"
_LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Lefebvre",
         "Roux", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau"]
_FIRST = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Zoé", "Hugo", "Lucas",
          "Théo", "Nathan", "Louis", "Gabriel", "Raphaël", "Arthur", "Jules", "Adèle", "Éloïse"]
_TOWNS = [("75011", "Paris"), ("13001", "Marseille"), ("69003", "Lyon"), ("31000", "Toulouse"),
          ("06000", "Nice"), ("44000", "Nantes"), ("67000", "Strasbourg"), ("34000", "Montpellier"),
          ("33000", "Bordeaux"), ("59000", "Lille"), ("35000", "Rennes"), ("97400", "Saint-Denis"),
          ("51100", "Reims"), ("76600", "Le Havre"), ("42000", "Saint-Étienne"),
          ("83000", "Toulon")]
# Two-digit national prefixes whose every 10-digit number phonenumbers accepts as French
# (checked: 026, 040, 059, 063 (Mayotte), 069, 070-072, 084, 087 are partly or wholly
# invalid or overseas).
_MOBILE = [f"6{d}" for d in range(9) if d != 3] + [f"7{d}" for d in range(3, 10)]
_FIXED = [f"{a}{b}" for a in "12345" for b in range(1, 10) if f"{a}{b}" not in ("26", "40", "59")]
_VOIP = [f"9{d}" for d in range(1, 10)]
_INVALID = ["06 12 34 56", "06 12 AB 56 78", "08 99 12 34 56", "", "n/a", "12345",
            "06 12 34 56 78 90 12", "+33 6 12 34 56 78 poste 12", "0000000000"]


def _national(rng: random.Random) -> str:
    kind = rng.random()
    prefix = rng.choice(_MOBILE if kind < 0.6 else _FIXED if kind < 0.9 else _VOIP)
    return prefix[0] + prefix[1] + "".join(str(rng.randint(0, 9)) for _ in range(7))


def french_format(nsn: str, style: int) -> str:
    """The ways French files write a number: ``06 12 34 56 78``, ``+33 6 12...``, ``06.12...``.

    Example: ``french_format("612345678", 0) == "06 12 34 56 78"``
    """
    national = "0" + nsn
    pairs = [national[i:i + 2] for i in range(0, 10, 2)]
    return [" ".join(pairs), national, "+33 " + nsn[0] + " " + " ".join(pairs[1:]),
            "+33" + nsn, ".".join(pairs), "-".join(pairs), "0033 " + " ".join(
                [nsn[0]] + pairs[1:]), "\u00a0".join(pairs)][style % 8]


def generate(path, rows: int, seed: int = 2024) -> int:
    """Write *rows* contact rows (UTF-8, ``;``, CRLF); returns how many numbers are invalid."""
    rng = random.Random(seed)
    invalid = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\r\n")
        lines = []
        for _ in range(rows):
            if rng.random() < INVALID_SHARE:
                phone = rng.choice(_INVALID)
                invalid += 1
            else:
                phone = french_format(_national(rng), rng.randrange(8))
            postcode, town = rng.choice(_TOWNS)
            born = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1935, 2005)}"
            lines.append(f"{rng.choice(_LAST)};{rng.choice(_FIRST)};{phone};{postcode};{town};"
                         f"{born}\r\n")
            if len(lines) >= 10000:
                f.writelines(lines)
                lines = []
        f.writelines(lines)
    return invalid


def contact_file(rows: int):
    """The cached generated file for *rows* rows, generated on first use."""
    path = cache_dir() / f"contacts-{rows}-v{GENERATOR_VERSION}.csv"
    if not path.exists():
        tmp = path.with_suffix(".part")
        generate(tmp, rows)
        os.replace(tmp, path)
    return path


def run(ctx: Run) -> list[Figure]:
    """Import the generated file and its sqlite3 baseline. Example: ``run(Run(True, Path("w")))``"""
    rows = 100_000 if ctx.quick else 1_000_000
    source = contact_file(rows)
    work = ctx.scratch("contacts")
    for leftover in work.iterdir():
        leftover.unlink()
    # Baseline: the sqlite3 shell parsing the same CSV into a table of text columns.
    base = timed_run(["sqlite3", str(work / "baseline.db")],
                     stdin=_script(f".mode csv\n.separator ;\n.import {source} raw\n"),
                     stdout=-1, stderr=-1)
    env = {**os.environ, "SC_ASTERISK_HOME": str(work / "home"),
           "SC_ASTERISK_DB": f"sqlite:///{work / 'contacts.db'}"}
    timed_run([sys.executable, "-m", "sc_asterisk", "db", "upgrade"], env=env,
              stdout=-1, stderr=-1)
    before_tree = os.environ.get("SC_ASTERISK_BENCH_BEFORE")
    before = None
    if before_tree:
        before_env = {**env, "PYTHONPATH": before_tree,
                      "SC_ASTERISK_DB": f"sqlite:///{work / 'before.db'}"}
        timed_run([sys.executable, "-m", "sc_asterisk", "db", "upgrade"], env=before_env,
                  stdout=-1, stderr=-1, cwd=before_tree)
        before = _import(source, work / "rejects-before.csv", before_env, cwd=before_tree)
    ours = _import(source, work / "rejects.csv", env)
    out = ours["stdout"].decode()
    counts = {k: int(v) for k, v in re.findall(r"(created|rejected|duplicates in file) (\d+)", out)}
    rate = rows / ours["wall_s"]
    ctx.details["contacts"] = {
        "rows": rows, "file_mb": r(source.stat().st_size / 1048576, 1),
        "created": counts.get("created"), "rejected": counts.get("rejected"),
        "duplicates": counts.get("duplicates in file"),
        "ours": {k: r(v) for k, v in ours.items() if k != "stdout"},
        "sqlite3_import": {k: r(v) for k, v in base.items() if k != "stdout"},
        "cpu_workers": "auto (validation on min(4, cores - 1) processes above 4 MB)"}
    scale = 1_000_000 / rows
    figures = [
        Figure("contacts", f"import {rows // 1000}k rows: wall", r(ours["wall_s"], 2), "s",
               r(base["wall_s"], 2), "sqlite3 .import",
               goal="< 30 s for 1M", met=ours["wall_s"] * scale < 30,
               note=None if scale == 1 else f"x{scale:.0f} for 1M: {ours['wall_s'] * scale:.0f} s"),
        Figure("contacts", "import rate", r(rate, 0), "rows/s",
               r(rows / base["wall_s"], 0), "sqlite3 .import"),
        Figure("contacts", "import peak RSS", r(ours["peak_rss_mb"], 0), "MB",
               r(base["peak_rss_mb"], 0), "sqlite3 .import", goal="< 500 MB",
               met=ours["peak_rss_mb"] < 500),
    ]
    if before is not None:
        same = (work / "rejects-before.csv").read_bytes() == (work / "rejects.csv").read_bytes()
        ctx.details["contacts"]["before"] = {
            "tree": before_tree, "rejects_identical": same,
            **{k: r(v) for k, v in before.items() if k != "stdout"}}
        figures.append(Figure(
            "contacts", f"import {rows // 1000}k rows: wall, this code / the code before",
            r(ours["wall_s"], 2), "s", r(before["wall_s"], 2), "before (same run)",
            note=f"reject files {'byte-identical' if same else 'DIFFER'}; peak RSS "
                 f"{ours['peak_rss_mb']:.0f} MB vs {before['peak_rss_mb']:.0f} MB"))
    server = os.environ.get("SC_ASTERISK_BENCH_PG")
    if server:
        figures += _postgresql(ctx, server, source, rows, work)
    return figures


def _import(source, rejects, env, cwd=None) -> dict:
    return timed_run([sys.executable, "-m", "sc_asterisk", "contacts", "import", str(source),
                      "--list", "bench", "--legal-basis", "consent", "--rejects", str(rejects)],
                     env=env, stdout=-1, stderr=-1, cwd=cwd)


def _postgresql(ctx: Run, server: str, source, rows: int, work) -> list[Figure]:
    """The same import into a throw-away PostgreSQL database, beside psql's \\copy."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"sc_bench_contacts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        env = {**os.environ, "SC_ASTERISK_HOME": str(work / "home"), "SC_ASTERISK_DB": url}
        subprocess.run([sys.executable, "-m", "sc_asterisk", "db", "upgrade"], env=env,
                       check=True, capture_output=True)
        columns = ", ".join(f"c{i} text" for i in range(HEADER.count(";") + 1))
        subprocess.run(["psql", url, "-q", "-c", f"CREATE TABLE raw ({columns})"], check=True,
                       capture_output=True)
        base = timed_run(["psql", url, "-q", "-c", f"\\copy raw FROM '{source}' WITH (FORMAT "
                          "csv, DELIMITER ';', HEADER, ENCODING 'UTF8')"], stdout=-1, stderr=-1)
        ours = _import(source, work / "rejects-pg.csv", env)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
    rate = rows / ours["wall_s"]
    ctx.details["contacts_postgresql"] = {
        "rows": rows, "ours": {k: r(v) for k, v in ours.items() if k != "stdout"},
        "psql_copy": {k: r(v) for k, v in base.items() if k != "stdout"},
        "projection_41m_min": r(SEED_STORY_ROWS / rate / 60, 1)}
    return [Figure("contacts", "import rate into PostgreSQL", r(rate, 0), "rows/s",
                   r(rows / base["wall_s"], 0), "psql \\copy",
                   note=f"41 M rows at this rate: {SEED_STORY_ROWS / rate / 60:.0f} min "
                        "(a linear projection: the number index grows)")]


def _script(text: str):
    """A readable file object holding *text* (stdin for the sqlite3 shell)."""
    import tempfile
    f = tempfile.TemporaryFile()
    f.write(text.encode())
    f.seek(0)
    return f
