"""What a controller crash must not cost, checked against SIPp's log (the truth) and against
`cdr export`: used by the crash lab tests and the random-kill soak."""
import csv
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime

from harness import kill_9, wait_sync
from sc_asterisk.lab.sipp import CalleePlan

# The test prompts (tests/lab/conftest.py): message 4000 ms then notice 3000 ms.
MSG_MS, SCRIPT_MS = 4000, 7000
RESUME_MS = 3000                 # the rendered SC_RESUME_MS
HOLD_MS = 13000                  # every callee listens longer than the script


SHORT_MS = 2500                  # a callee who hangs up mid-message


def listeners(nums, holds: dict | None = None) -> CalleePlan:
    plan = CalleePlan()
    for n in nums:
        plan.add(n, "answer", ring_ms=50, hold_ms=(holds or {}).get(n.lstrip("+"), HOLD_MS))
    return plan


def now_ms() -> float:
    return time.time() * 1000


def kill_when_calls_are_in_both_segments(sim, proc, want: int = 2) -> tuple[float, dict]:
    """SIGKILL *proc* once SIPp has answered calls that are (by their answer time) in the
    message and others in the notice; returns the kill time and number -> segment."""
    def spread():
        at = now_ms()
        live = {t.number: at - t.answer_ms for t in sim.truth()
                if t.answer_ms is not None and t.end_ms is None}
        where = {n: "message" if 500 < ms < MSG_MS - 500 else
                 "notice" if MSG_MS + 500 < ms < SCRIPT_MS - 500 else "edge"
                 for n, ms in live.items()}
        counts = Counter(where.values())
        return where if counts["message"] >= want and counts["notice"] >= want else None
    wait_sync(lambda: spread() is not None, 60)
    where = spread()
    killed_ms = now_ms()
    kill_9(proc)
    return killed_ms, where


def in_flight_at(truth, killed_ms: float) -> dict:
    return {t.number: t for t in truth if t.answer_ms is not None and t.answer_ms < killed_ms
            and (t.end_ms is None or t.end_ms > killed_ms)}


def check_every_callee_heard_it_all(sim, n: int, extra_max_ms: float,
                                    short: frozenset = frozenset()) -> dict:
    """SIPp's truth: nobody dialed twice, and every answered call went on until our BYE at
    the end of the script (never cut at the kill), with at most *extra_max_ms* of silence,
    or, for the *short* listeners, until their own hang-up."""
    invited = Counter(t.number for t in sim.truth())
    assert len(invited) == n and max(invited.values()) == 1, invited.most_common(3)
    truth = {t.number: t for t in sim.truth()}
    for number, t in truth.items():
        assert t.outcome == "answered", t
        if number in short:
            assert t.ended_by == "callee" and t.hold_ms_measured >= SHORT_MS - 60, t
            continue
        assert t.ended_by == "caller", t              # our BYE, not the callee's
        assert SCRIPT_MS - 60 <= t.hold_ms_measured <= SCRIPT_MS + extra_max_ms, \
            (number, t.hold_ms_measured)
    return truth


TOLERANCE_MS = 250


def check_cdr_matches_sipp(db, home, tmp_path, name: str, truth: dict, flying: dict,
                           tolerance_ms: int = TOLERANCE_MS) -> dict:
    """`cdr export`: every call SIPp answered has its answer and end times and the listened
    ms of each segment within *tolerance_ms* of SIPp's truth, and says how they were obtained.
    What a callee heard is the script up to their hang-up; for one who hung up after a crash
    it is not known from SIPp (the silence before the resumption is not in its log): only
    the times are checked then."""
    out = tmp_path / f"{name}.csv"
    done = subprocess.run([sys.executable, "-m", "sc_asterisk", "--db", db.url, "cdr", "export",
                           "--campaign", name, "--no-pseudonymise", "-o", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SC_ASTERISK_HOME": str(home)})
    assert done.returncode == 0, done.stderr[-500:]
    rows = {r["number"].lstrip("+"): r for r in csv.DictReader(open(out))}
    precision = Counter()
    for number, t in truth.items():
        row = rows[number]
        assert row["outcome"] == "answered" and row["state"] == "finished", row
        assert abs(_epoch_ms(row["answer_at"]) - t.answer_ms) <= tolerance_ms, row
        assert abs(_epoch_ms(row["end_at"]) - t.end_ms) <= tolerance_ms, row
        assert row["precision"] in ("measured", "reconstructed"), row
        if t.ended_by == "callee" and number in flying:
            continue
        heard = t.hold_ms_measured if t.ended_by == "callee" else SCRIPT_MS
        message, notice = min(heard, MSG_MS), max(0, min(heard - MSG_MS, SCRIPT_MS - MSG_MS))
        assert abs(int(row["message_listened_ms"]) - message) <= tolerance_ms, (row, heard)
        assert abs(int(row["notice_listened_ms"]) - notice) <= tolerance_ms, (row, heard)
        precision[(number in flying, row["precision"])] += 1
    return precision


def _epoch_ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000
