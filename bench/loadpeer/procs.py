"""The rehearsal's processes: load peers and `serve` controllers started and stopped, their
readiness read from their logs, and CPU seconds read from /proc (the controllers', the load
peers', and the PostgreSQL backends serving the scratch database)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from sc_asterisk.db import Database

ROOT = Path(__file__).resolve().parents[2]
DRIVER = "sc-rehearsal-driver"     # the driver's own connections (left out of PostgreSQL's CPU)


def cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def pg_backends_cpu(db: Database, dbname: str | None) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving *dbname* (from /proc: their
    command line names the database), the driver's own (application_name DRIVER) left out."""
    if dbname is None:
        return 0.0
    with db.session() as s:
        mine = {str(pid) for pid in s.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": DRIVER})}
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmd.startswith("postgres:") and f" {dbname} " in cmd and entry.name not in mine:
            total += cpu_s(int(entry.name))
    return total


def start_peers(args, work: Path, secret_file: Path, sounds: str) -> list[subprocess.Popen]:
    peers = []
    for i in range(args.nodes):
        cmd = [sys.executable, "-m", "bench.loadpeer", "--port", str(args.ami_port + i),
               "--secret-file", str(secret_file), "--sounds", sounds,
               "--answer-ratio", str(args.answer_ratio), "--full-listen", str(args.full_listen),
               "--optout", str(args.optout), "--ring-s", *map(str, args.ring_s),
               "--time-scale", str(args.time_scale), "--seed", str(i + 1),
               "--arrivals", str(work / f"arrivals-{i}.csv"), "--stats",
               str(work / f"peer-{i}.json")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(work / f"peer-{i}.log",
                                                                          "wb"),
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"load peer {i} did not start (see {work}/peer-{i}.log)")
        peers.append(proc)
    return peers


def start_controllers(args, db_url: str, home: Path, work: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(args.controllers):
        cmd = [sys.executable, "-m", "sc_asterisk", "--db", db_url, "serve",
               "--agi-port", str(args.agi_port + i), "--drain-timeout", "60"]
        procs.append(subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=open(work / f"serve-{i}.log", "wb"),
            stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "SC_ASTERISK_HOME": str(home), "PYTHONPATH": str(ROOT)}))
    return procs


def wait_for(predicate, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def ready(controllers: list[subprocess.Popen], work: Path, nodes: int, timeout: float = 60
          ) -> None:
    """Wait until every controller has logged in to every node (its log says so): the first
    phase's CPU is then the calls', not the start's."""
    def logged_in() -> bool:
        for i, proc in enumerate(controllers):
            if proc.poll() is not None:
                raise RuntimeError(f"controller {i} exited at start (see {work}/serve-{i}.log)")
            log = (work / f"serve-{i}.log").read_text(errors="replace")
            if log.count(": logged in to ") < nodes:
                return False
        return True
    if not wait_for(logged_in, timeout, 0.2):
        raise RuntimeError(f"controllers not logged in to the load peers within {timeout:.0f}s")


def log_warnings(path: Path) -> int:
    """WARNING and ERROR lines in a controller's log (0 on a clean run)."""
    return sum(1 for line in path.read_text(errors="replace").splitlines()
               if " WARNING " in line or " ERROR " in line)


def stop(procs: list[subprocess.Popen], timeout: float = 90) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(None)
    return codes
