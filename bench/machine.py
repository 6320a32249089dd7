"""What the figures were measured on, and process measurements read from /proc.

Example::

    info = machine_info()            # {"cores": 2, "cpu_model": "...", ...}
    before = proc_cpu_s(pid)
    ...
    used = proc_cpu_s(pid) - before  # CPU seconds (user + system) of that process
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import threading
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def machine_info() -> dict:
    """Cores, CPU model, memory, load and software versions of this machine.

    Example: ``machine_info()["cores"] == os.cpu_count()``
    """
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model, "mem_gb": round(mem_kb / 1048576, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "kernel": platform.release(),
            "python": platform.python_version(), "sqlite3_cli": _version(["sqlite3", "--version"]),
            "sipp": _version(["sipp", "-v"], pick="SIPp"), "asterisk": _asterisk_version()}


def _asterisk_version() -> str | None:
    from sc_asterisk.lab.root import DEFAULT_CACHE, is_provisioned, root_path
    root = root_path(DEFAULT_CACHE)
    if not is_provisioned(root):
        return None
    return _version(["chroot", str(root), "asterisk", "-V"], pick="Asterisk")


def _version(command: list[str], pick: str | None = None) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if pick is None or pick in line:
            return line.strip()[:80]
    return None


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far.

    Example: ``proc_cpu_s(lab.pid())``
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" closing the command name: state is field 3, utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu_s() -> float:
    """CPU seconds (user + system, every thread) of this process so far.

    Example: ``before = self_cpu_s(); work(); used = self_cpu_s() - before``
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB.

    Example: ``tree_rss_mb(os.getpid())``
    """
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total / 1048576


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class PeakRss:
    """Samples the resident memory of a process tree while it runs; ``peak_mb`` is the highest.

    Example::

        proc = subprocess.Popen([...])
        with PeakRss(proc.pid) as rss:
            proc.wait()
        print(rss.peak_mb)
    """

    def __init__(self, pid: int, every_s: float = 0.1):
        self.pid, self.every_s, self.peak_mb = pid, every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(command: list[str], **kwargs) -> dict:
    """Run a command to the end: wall seconds, CPU seconds of its children, peak tree RSS.

    Example: ``timed_run(["sqlite3", "x.db", ".import --csv f.csv t"])["wall_s"]``
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, **kwargs)
    with PeakRss(proc.pid) as rss:
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: "
                           f"{(err or b'')[-500:].decode(errors='replace')}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss.peak_mb, "stdout": out}
