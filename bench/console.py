"""The console open on a running 20 CPS campaign: does watching slow the dialer?

Two lab campaigns of the same size at 20 CPS, one after the other on one controller, callees
hanging up at random times across the script. The first runs with nobody watching; during the
second, ``sc-asterisk web``'s app runs in a process of its own on the same database, and
VIEWERS clients (``bench/viewers.py``, a third process), each streaming the campaign's live figures (the server-sent events the
campaign page listens to, every second) and reloading the campaign page every two seconds.
Both campaigns are measured as ``pacing`` and ``listen`` measure theirs: the rate SIPp saw
against the target, and the listened-ms error against SIPp's holds. Figures: the watched
campaign's, with the quiet one as baseline (the ratio is watched / quiet).
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import time

import httpx

from .common import Figure, Run, r, summary
from .labkit import (KEY, BenchLab, expected_ms, make_campaign, numbers, results,
                     truth_by_number)
from .machine import proc_cpu_s

CPS = 20
MESSAGE_MS, NOTICE_MS = 6000, 4000
SCRIPT = [("message", MESSAGE_MS), ("notice", NOTICE_MS)]
VIEWERS = 5
# The web app in its own process, on the bench's database and key.
SERVER = """
import sys, uvicorn
from sc_asterisk.db import Database
from sc_asterisk.web.app import create_app
uvicorn.run(create_app(Database(sys.argv[1]), sys.argv[3], secure_cookies=False),
            host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def run(ctx: Run) -> list[Figure]:
    """A quiet and a watched campaign. Example: ``run(Run(quick=True, workdir=w))``"""
    from sc_asterisk.lab.sipp import CalleePlan
    from sc_asterisk.users.accounts import add_user
    from sc_asterisk.users.tokens import create_token
    calls = 120 if ctx.quick else 400
    rng = random.Random(16)
    blocks = {"quiet": numbers(86, calls), "watched": numbers(87, calls)}
    plan = CalleePlan()
    for nums in blocks.values():
        for n in nums:
            plan.add(n, "answer", ring_ms=200,
                     hold_ms=rng.randint(300, MESSAGE_MS + NOTICE_MS - 300))
    with BenchLab(ctx) as lab:
        db = lab.database("console")
        prompts = lab.prompts(MESSAGE_MS, NOTICE_MS)
        for name, nums in blocks.items():
            make_campaign(db, prompts, name, nums, cps=CPS, max_channels=400)
        with db.session() as s:
            add_user(s, "viewer", "a bench viewer's password", "operator")
            token = create_token(s, "viewer", "bench")
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, db.url, str(port), KEY],
                                  stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        viewers = ViewersProcess(base, token, "watched")
        try:
            wait_listening(base, server)

            print("   console: web process listening", flush=True)

            def between(index: int, run_) -> None:
                print(f"   console: campaign {index + 1} of 2 done in {run_.wall_s:.1f} s",
                      flush=True)
                if index == 0:          # the quiet campaign is over: the console opens
                    viewers.start()
            with lab.simulator(plan, "console") as sim:
                web0 = proc_cpu_s(server.pid)
                runs = asyncio.run(lab.run_campaigns(db, ["quiet", "watched"],
                                                     between=between))
                web_cpu = proc_cpu_s(server.pid) - web0
                truth = truth_by_number(sim.truth())
        finally:
            try:
                viewers.stop()
            finally:
                server.terminate()
                server.wait(timeout=20)
        measured = {name: _measure(db, name, nums, truth) for name, nums in blocks.items()}

    quiet, watched = measured["quiet"], measured["watched"]
    ctx.details["console"] = {
        "calls_per_campaign": calls, "cps": CPS, "viewers": VIEWERS,
        "events_received": viewers.counts.get("events"),
        "pages_loaded": viewers.counts.get("pages"),
        "viewer_errors": viewers.counts.get("errors", [])[:5], "web_cpu_s": r(web_cpu, 2),
        "quiet": quiet, "watched": watched,
        "wall_s": {"quiet": r(runs[0].wall_s, 2), "watched": r(runs[1].wall_s, 2)},
        "controller_cpu_s": {"quiet": r(runs[0].controller_cpu_s, 2),
                             "watched": r(runs[1].controller_cpu_s, 2)}}
    rate_ok = abs(watched["rate_error"]) <= 0.02
    return [
        Figure("console", f"rate at {CPS} CPS, console open ({VIEWERS} viewers)",
               watched["rate"], "calls/s", quiet["rate"], "same campaign, nobody watching",
               goal="within ±2 % of the target", met=rate_ok and (viewers.counts.get("events") or 0) > 0,
               note=f"{watched['rate_error'] * 100:+.2f} % vs {quiet['rate_error'] * 100:+.2f} %"
                    f" of the target; {viewers.counts.get('events')} live events, "
                    f"{viewers.counts.get('pages')} pages"),
        Figure("console", "listen-time error, median |err|, console open",
               watched["listen_ms"].get("median_abs"), "ms",
               quiet["listen_ms"].get("median_abs"), "nobody watching", goal="<= 20 ms",
               met=(watched["listen_ms"].get("median_abs", 1e9) <= 20),
               note=f"max {watched['listen_ms'].get('max_abs')} ms vs "
                    f"{quiet['listen_ms'].get('max_abs')} ms"),
        Figure("console", "web process CPU while watched", r(web_cpu, 2), "s",
               r(runs[1].controller_cpu_s, 2), "controller CPU, same campaign"),
    ]


def _measure(db, name: str, nums: list[str], truth: dict) -> dict:
    keys = {n.lstrip("+") for n in nums}
    invites = sorted(t.invite_ms for k, t in truth.items() if k in keys and t.invite_ms)
    rate = (len(invites) - 1) / ((invites[-1] - invites[0]) / 1000)
    errors, missing = [], 0
    for key, call in results(db, name).items():
        t = truth.get(key)
        if t is None or t.outcome != "answered" or call.outcome != "answered":
            missing += 1
            continue
        expected = expected_ms(t.end_ms - t.answer_ms, SCRIPT)
        heard = sum(call.segments.get(role, (0, ""))[0] for role, _ in SCRIPT)
        errors.append(heard - sum(expected.values()))
    return {"invites": len(invites), "rate": r(rate, 3), "rate_error": r(rate / CPS - 1, 4),
            "listen_ms": {k: r(v, 1) for k, v in summary(errors).items()},
            "not_measured": missing}


def wait_listening(base: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(base + "/login", timeout=2)
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bench's web process never listened") from None
            time.sleep(0.1)


class ViewersProcess:
    """The viewers (``bench/viewers.py``) in a process of their own: neither their CPU nor
    their GIL is the controller's."""

    def __init__(self, base: str, token: str, campaign: str):
        self.args = [sys.executable, "-m", "bench.viewers", base, campaign, str(VIEWERS)]
        self.token = token
        self.proc: subprocess.Popen | None = None
        self.counts: dict = {}

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.proc.stdin.write(self.token + "\n")     # not on the command line
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc is None:
            return
        out = self.proc.communicate(timeout=30)[0]    # closes its input: the viewers stop
        self.counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
