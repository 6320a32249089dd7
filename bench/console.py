"""The console open on a running 20 CPS campaign: does watching slow the dialer?

Two lab campaigns of the same size at 20 CPS, one after the other on one controller, callees
hanging up at random times across the script. The first runs with nobody watching; during the
second, ``sc-asterisk web``'s app runs in a process of its own on the same database with
VIEWERS clients, each streaming the campaign's live figures (the server-sent events the
campaign page listens to, every second) and reloading the campaign page every two seconds.
Both campaigns are measured as ``pacing`` and ``listen`` measure theirs: the rate SIPp saw
against the target, and the listened-ms error against SIPp's holds. Figures: the watched
campaign's, with the quiet one as baseline (the ratio is watched / quiet).
"""
from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import threading
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
        viewers = Viewers(f"http://127.0.0.1:{port}", token, "watched")
        try:
            viewers.wait_listening(server)

            def between(index: int, _run) -> None:
                if index == 0:          # the quiet campaign is over: the console opens
                    viewers.start()
            with lab.simulator(plan, "console") as sim:
                web0 = proc_cpu_s(server.pid)
                runs = asyncio.run(lab.run_campaigns(db, ["quiet", "watched"],
                                                     between=between))
                web_cpu = proc_cpu_s(server.pid) - web0
                truth = truth_by_number(sim.truth())
        finally:
            viewers.stop()
            server.terminate()
            server.wait(timeout=20)
        measured = {name: _measure(db, name, nums, truth) for name, nums in blocks.items()}

    quiet, watched = measured["quiet"], measured["watched"]
    ctx.details["console"] = {
        "calls_per_campaign": calls, "cps": CPS, "viewers": VIEWERS,
        "events_received": viewers.events, "pages_loaded": viewers.pages,
        "viewer_errors": viewers.errors[:5], "web_cpu_s": r(web_cpu, 2),
        "quiet": quiet, "watched": watched,
        "wall_s": {"quiet": r(runs[0].wall_s, 2), "watched": r(runs[1].wall_s, 2)},
        "controller_cpu_s": {"quiet": r(runs[0].controller_cpu_s, 2),
                             "watched": r(runs[1].controller_cpu_s, 2)}}
    rate_ok = abs(watched["rate_error"]) <= 0.02
    return [
        Figure("console", f"rate at {CPS} CPS, console open ({VIEWERS} viewers)",
               watched["rate"], "calls/s", quiet["rate"], "same campaign, nobody watching",
               goal="within ±2 % of the target", met=rate_ok and viewers.events > 0,
               note=f"{watched['rate_error'] * 100:+.2f} % vs {quiet['rate_error'] * 100:+.2f} %"
                    f" of the target; {viewers.events} live events, {viewers.pages} pages"),
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


class Viewers:
    """Console clients in threads: each streams the live figures and reloads the page."""

    def __init__(self, base: str, token: str, campaign: str):
        self.base, self.campaign = base, campaign
        self.headers = {"Authorization": f"Bearer {token}"}
        self.events = self.pages = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def wait_listening(self, server: subprocess.Popen, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(self.base + "/login", timeout=2)
                return
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bench's web process never listened") from None
                time.sleep(0.1)

    def start(self) -> None:
        for _ in range(VIEWERS):
            for target in (self._stream, self._reload):
                thread = threading.Thread(target=target, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def _stream(self) -> None:
        url = f"{self.base}/api/v1/campaigns/{self.campaign}/events?every=1"
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", url, headers=self.headers, timeout=10) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: status"):
                            self._count("events")
                        if self._stop.is_set():
                            return
            except httpx.HTTPError as exc:
                self.errors.append(f"stream: {type(exc).__name__}")

    def _reload(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as client:
            while not self._stop.wait(2.0):
                try:
                    if client.get(f"{self.base}/campaigns/{self.campaign}").status_code == 200:
                        self._count("pages")
                except httpx.HTTPError as exc:
                    self.errors.append(f"page: {type(exc).__name__}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
