"""``python -m bench.loadpeer.rehearsal``: the control plane's rehearsal (issue 15, goal 4).

Unchanged controllers (``sc-asterisk serve`` processes) dial a campaign whose calls go to load
peers (fake Asterisk nodes, ``bench.loadpeer``): claims, pacing, state, records and the database
are real; only the media side is simulated. For each queue size asked (``--queued 10000
100000``) the queue is topped up to that size, the campaign runs until ``--calls`` more calls
are over, then is paused and drained. Figures per phase: CPS, claim latency (the claim's start,
``call_record.originate_ms``, to the Originate's arrival at the peer: the claim transaction, its
commit and the AMI write), controllers' CPU per call, the database backends' CPU per call. At
the end: nobody dialed twice (SQL over ``call_attempt`` and the peers' own count), every
attempt dialed is final and recorded.

Contacts and attempts are written with COPY on PostgreSQL (``--contacts`` adds unqueued
contacts: the size of the contact base), never through the importer. Numbers are fictitious:
+33 1 99 xx xx xx (ARCEP's fiction block) for the first million, then the same block with two
digits too many (no valid number anywhere).

Example::

    python -m bench.loadpeer.rehearsal --db postgresql://u:p@127.0.0.1/postgres \\
        --controllers 2 --queued 10000 50000 --calls 5000 --cps 100
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

from sc_asterisk.db import Database
from sc_asterisk.dialer.campaigns import get_campaign
from sc_asterisk.dialer.lifecycle import set_status

from .procs import (DRIVER, ROOT, cpu_s, log_warnings, pg_backends_cpu, ready, start_controllers,
                    start_peers, stop, wait_for)
from .seed import CAMPAIGN, Scratch, add_contacts, queue_attempts, setup

RESULTS = ROOT / "bench" / "results.json"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.loadpeer.rehearsal",
                                description="Controllers against load peers, on a real database.")
    p.add_argument("--db", default=os.environ.get("SC_ASTERISK_TEST_PG"),
                   help="PostgreSQL DSN to create a scratch database from (default "
                        "$SC_ASTERISK_TEST_PG), or a sqlite:/// URL used as it is")
    p.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    p.add_argument("--controllers", type=int, default=2)
    p.add_argument("--nodes", type=int, default=1, help="load peers (fake nodes)")
    p.add_argument("--queued", type=int, nargs="+", default=[10_000],
                   help="queue sizes, one measured phase each (ascending)")
    p.add_argument("--calls", type=int, default=3000,
                   help="calls measured per phase (fewer than the phase's queue)")
    p.add_argument("--contacts", type=int, default=0,
                   help="contact base size (unqueued contacts added up to it)")
    p.add_argument("--cps", type=float, default=100.0, help="the campaign's CPS cap")
    p.add_argument("--max-channels", type=int, default=2000, help="campaign and node channels")
    p.add_argument("--answer-ratio", type=float, default=0.7)
    p.add_argument("--full-listen", type=float, default=0.6)
    p.add_argument("--optout", type=float, default=0.0)
    p.add_argument("--ring-s", type=float, nargs=2, default=(2.0, 12.0))
    p.add_argument("--message-s", type=float, default=60.0)
    p.add_argument("--notice-s", type=float, default=10.0)
    p.add_argument("--time-scale", type=float, default=0.01)
    p.add_argument("--ami-port", type=int, default=25038, help="first load peer's AMI port")
    p.add_argument("--agi-port", type=int, default=25573, help="first controller's FastAGI port")
    p.add_argument("--phase-timeout", type=float, default=900.0)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-results", action="store_true", help="print only, write nothing")
    p.add_argument("--workdir", type=Path)
    return p.parse_args(argv)


# -- measuring ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def read_arrivals(work: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in work.glob("arrivals-*.csv"):
        for line in path.read_text().splitlines():
            channel_id, _, ms = line.partition(",")
            if ms.isdigit():
                out.setdefault(channel_id, int(ms))
    return out


def count(db: Database, sql: str, **params) -> int:
    with db.session() as s:
        return s.execute(text(sql), params).scalar() or 0


def run_phase(db, scratch, campaign_id, queued, args, controllers, work, peers=()) -> dict:
    """Top up the queue to *queued*, run until --calls more calls are over, pause, drain.
    Polled with cheap queries (the state index, the small call_record table): the driver's
    own load stays out of the figures."""
    c = {"c": campaign_id}
    waiting = count(db, "SELECT count(*) FROM call_attempt WHERE campaign_id = :c "
                        "AND state = 'queued'", **c)
    total = count(db, "SELECT count(*) FROM call_attempt WHERE campaign_id = :c", **c)
    topped = queue_attempts(db, scratch.postgres, campaign_id, total,
                            total + max(0, queued - waiting))
    ended = "SELECT count(*) FROM call_record WHERE outcome IS NOT NULL"
    before = count(db, ended)
    in_flight = ("SELECT count(*) FROM call_attempt WHERE state IN "
                 "('originating', 'ringing', 'answered') AND campaign_id = :c")
    cpu0 = [cpu_s(p.pid) for p in controllers]
    peer0 = sum(cpu_s(p.pid) for p in peers)
    pg0 = pg_backends_cpu(db, scratch.name)
    started_ms = int(time.time() * 1000)
    set_status(db, CAMPAIGN, "running")      # from draft or paused
    done = wait_for(lambda: count(db, ended) >= before + args.calls, args.phase_timeout, 0.5)
    with db.session() as s:
        running = get_campaign(s, CAMPAIGN).status == "running"
    if running:            # else it completed: the queue was shorter than --calls
        set_status(db, CAMPAIGN, "paused")
    drained = wait_for(lambda: count(db, in_flight, **c) == 0, 120, 0.5)
    cpu1 = [cpu_s(p.pid) for p in controllers]
    peer1 = sum(cpu_s(p.pid) for p in peers)
    pg1 = pg_backends_cpu(db, scratch.name)
    with db.session() as s:
        rows = s.execute(text(
            "SELECT a.id, r.originate_ms, a.controller FROM call_attempt a JOIN call_record r "
            "ON r.attempt_id = a.id WHERE a.campaign_id = :c AND r.originate_ms >= :t"),
            {"c": campaign_id, "t": started_ms}).all()
    arrivals = read_arrivals(work)
    latency = [arrivals[a] - o for a, o, _ in rows if a in arrivals]
    stamps = sorted(o for _, o, _ in rows)
    span_s = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else None
    calls = len(rows)
    per_controller = {}
    for _, _, c in rows:
        per_controller[c] = per_controller.get(c, 0) + 1
    ctl_cpu = sum(b - a for a, b in zip(cpu0, cpu1))
    return {
        "queued_at_start": queued, "topped_up_s": round(topped, 1), "calls": calls,
        "completed_in_time": bool(done), "drained": bool(drained),
        "cps": round((calls - 1) / span_s, 1) if span_s else None,
        "claims_per_controller": sorted(per_controller.values()),
        "claim_latency_ms": {"n": len(latency), "p50": percentile(latency, 0.5),
                             "p90": percentile(latency, 0.9), "p99": percentile(latency, 0.99),
                             "max": max(latency) if latency else None},
        "controller_cpu_s": round(ctl_cpu, 2),
        "controller_cpu_ms_per_call": round(1000 * ctl_cpu / calls, 2) if calls else None,
        "load_peer_cpu_ms_per_call": round(1000 * (peer1 - peer0) / calls, 2) if calls else None,
        "pg_backend_cpu_s": round(pg1 - pg0, 2) if scratch.postgres else None,
        "pg_backend_cpu_ms_per_call": round(1000 * (pg1 - pg0) / calls, 2)
        if scratch.postgres and calls else None,
    }


def checks(db: Database, campaign_id: int, peer_stats: list[dict]) -> dict:
    """Nobody dialed twice, every attempt dialed final and recorded."""
    with db.session() as s:
        q = lambda sql: s.execute(text(sql), {"c": campaign_id}).scalar()  # noqa: E731
        out = {
            "numbers_dialed_twice": q(
                "SELECT count(*) FROM (SELECT number FROM call_attempt WHERE campaign_id = :c "
                "AND state <> 'queued' GROUP BY number HAVING count(*) > 1) d"),
            "dialed": q("SELECT count(*) FROM call_attempt WHERE campaign_id = :c "
                        "AND state <> 'queued'"),
            "not_final": q("SELECT count(*) FROM call_attempt WHERE campaign_id = :c AND state "
                           "IN ('originating', 'ringing', 'answered')"),
            "without_record": q(
                "SELECT count(*) FROM call_attempt a LEFT JOIN call_record r ON r.attempt_id "
                "= a.id WHERE a.campaign_id = :c AND a.state <> 'queued' "
                "AND (r.attempt_id IS NULL OR r.outcome IS NULL)"),
            "answered_without_segments": q(
                "SELECT count(*) FROM call_record r JOIN call_attempt a ON a.id = r.attempt_id "
                "WHERE a.campaign_id = :c AND r.outcome = 'answered' AND NOT EXISTS "
                "(SELECT 1 FROM segment_listen l WHERE l.attempt_id = r.attempt_id)"),
        }
        out["outcomes"] = dict(s.execute(text(
            "SELECT r.outcome, count(*) FROM call_record r JOIN call_attempt a ON "
            "a.id = r.attempt_id WHERE a.campaign_id = :c GROUP BY r.outcome"),
            {"c": campaign_id}).all())
    out["peer_originates"] = sum(p.get("originates", 0) for p in peer_stats)
    out["peer_duplicate_channel_ids"] = sum(p.get("duplicate_channel_ids", 0) for p in peer_stats)
    out["peer_duplicate_numbers"] = sum(p.get("duplicate_numbers", 0) for p in peer_stats)
    out["peer_agi_failed"] = sum(p.get("agi_failed", 0) for p in peer_stats)
    return out


def run(args) -> dict:
    if any(q <= args.calls for q in sorted(args.queued)[:-1]):
        raise SystemExit("each queue size but the last must exceed --calls (a campaign whose "
                         "queue runs out completes and cannot run again): raise --queued")
    if not args.db:
        raise SystemExit("no database: give --db DSN or set SC_ASTERISK_TEST_PG "
                         "(e.g. postgresql://sc_test:sc_test@127.0.0.1/postgres)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sc-rehearsal-"))
    work.mkdir(parents=True, exist_ok=True)
    scratch = Scratch(args.db, args.keep_db)
    home = work / "home"
    peers, controllers = [], []
    try:
        db = Database(scratch.driver_url(DRIVER))
        db.upgrade()
        secret = secrets.token_hex(16)
        secret_file = work / "ami.secret"
        secret_file.write_text(secret + "\n")
        secret_file.chmod(0o600)
        setup(db, home, work, args, secret)
        with db.session() as s:
            campaign_id = get_campaign(s, CAMPAIGN).id
        biggest = max(args.queued)
        contacts_n = max(args.contacts, sum(args.queued) + args.calls * len(args.queued))
        contacts_s = add_contacts(db, scratch.postgres, 0, contacts_n)
        peers = start_peers(args, work, secret_file, str(work / "sounds"))
        controllers = start_controllers(args, scratch.url, home, work)
        ready(controllers, work, args.nodes)
        phases = []
        for queued in sorted(args.queued):
            phase = run_phase(db, scratch, campaign_id, queued, args, controllers, work, peers)
            print(json.dumps(phase), flush=True)
            phases.append(phase)
        codes = stop(controllers)
        stop(peers, 30)
        peer_stats = [json.loads(p.read_text()) for p in sorted(work.glob("peer-*.json"))]
        found = {"controllers": args.controllers, "nodes": args.nodes,
                 "database": "postgresql" if scratch.postgres else "sqlite",
                 "contacts": contacts_n, "contacts_copy_s": round(contacts_s, 1),
                 "contacts_rows_per_s": round(contacts_n / contacts_s) if contacts_s else None,
                 "largest_queue": biggest, "cps_cap": args.cps,
                 "model": {"answer_ratio": args.answer_ratio, "full_listen": args.full_listen,
                           "ring_s": list(args.ring_s), "message_s": args.message_s,
                           "notice_s": args.notice_s, "time_scale": args.time_scale},
                 "phases": phases, "checks": checks(db, campaign_id, peer_stats),
                 "serve_exit": codes, "peers": peer_stats,
                 "serve_log_warnings": [log_warnings(work / f"serve-{i}.log")
                                        for i in range(args.controllers)]}
        db.engine.dispose()
        return found
    finally:
        stop(controllers)
        stop(peers, 10)
        scratch.drop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def figures(found: dict):
    from ..common import Figure
    out = []
    for ph in found["phases"]:
        q = ph["queued_at_start"]
        lat = ph["claim_latency_ms"]
        out.append(Figure("scale-rehearsal", f"CPS, {found['controllers']} controllers, {q:,} "
                          "queued", ph["cps"], "calls/s", goal=">= 100",
                          met=(ph["cps"] or 0) >= 100))
        out.append(Figure("scale-rehearsal", f"claim latency p99, {q:,} queued", lat["p99"], "ms",
                          note=f"p50 {lat['p50']} ms, max {lat['max']} ms, n {lat['n']}"))
        out.append(Figure("scale-rehearsal", f"controller CPU per call, {q:,} queued",
                          ph["controller_cpu_ms_per_call"], "ms", goal="<= 3",
                          met=(ph["controller_cpu_ms_per_call"] or 99) <= 3))
        if ph["pg_backend_cpu_ms_per_call"] is not None:
            out.append(Figure("scale-rehearsal", f"PostgreSQL CPU per call, {q:,} queued",
                              ph["pg_backend_cpu_ms_per_call"], "ms"))
    p99 = [ph["claim_latency_ms"]["p99"] for ph in found["phases"]]
    if len(p99) > 1 and p99[0] and p99[-1] is not None:
        first, last = found["phases"][0], found["phases"][-1]
        flat = round(p99[-1] / p99[0], 2)
        out.append(Figure("scale-rehearsal", f"claim latency p99 at {last['queued_at_start']:,} "
                          f"/ at {first['queued_at_start']:,} queued", flat, "", goal="flat "
                          "(<= 1.5)", met=flat <= 1.5))
    c = found["checks"]
    out.append(Figure("scale-rehearsal", "numbers dialed twice", c["numbers_dialed_twice"]
                      + c["peer_duplicate_numbers"], "", goal="0",
                      met=c["numbers_dialed_twice"] + c["peer_duplicate_numbers"] == 0))
    out.append(Figure("scale-rehearsal", "dialed attempts not final or not recorded",
                      c["not_final"] + c["without_record"] + c["answered_without_segments"], "",
                      goal="0", met=c["not_final"] + c["without_record"]
                      + c["answered_without_segments"] == 0))
    return out


def write_results(found: dict, path: Path, seconds: float, when: str | None = None) -> str:
    """Merge the figures into the results file (``benchmarks.scale-rehearsal``); returns the
    table. Example: ``write_results(found, RESULTS, 812.4)``"""
    from ..__main__ import _load, _save, table
    from ..machine import machine_info
    figs = figures(found)
    results = _load(path)
    results["benchmarks"]["scale-rehearsal"] = {
        "when": when or datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": False,
        "seconds": round(seconds, 1), "machine": machine_info(), "error": None,
        "figures": [f.as_dict() for f in figs], "details": {"rehearsal": found}}
    _save(results, path)
    return table(figs)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    found = run(args)
    print(json.dumps(found["checks"], indent=1))
    if not args.no_results:
        print(write_results(found, args.results, time.monotonic() - started))
    c = found["checks"]
    ok = c["numbers_dialed_twice"] == 0 and c["peer_duplicate_numbers"] == 0 \
        and c["not_final"] == 0 and c["without_record"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
