"""Pacing, campaign efficiency and controller cost, from the same lab campaigns at 10 and 20 CPS.

- pacing: the rate SIPp saw, (n − 1) / (last INVITE − first INVITE), against the target;
- efficiency: wall time of the campaign / (N / CPS + hold), every callee holding a known time;
- controller cost: CPU seconds of the controller (this process, which only runs it) / CPU
  seconds of the lab's Asterisk (/proc/PID/stat), over the same campaign.
"""
from __future__ import annotations

import asyncio
import statistics

from .common import Figure, Run, r
from .labkit import BenchLab, make_campaign, numbers, results, truth_by_number
from .listen import MESSAGE_MS, NOTICE_MS

HOLD_MS = 2000
GOAL_RATE, GOAL_EFFICIENCY, GOAL_COST = 0.02, 1.05, 0.05
GRADED = (10, 20)


def run(ctx: Run) -> list[Figure]:
    """Campaigns at 10, 20 and 40 CPS. Example: ``run(Run(quick=True, workdir=w))``"""
    from sc_asterisk.lab.sipp import CalleePlan
    # 10 and 20 CPS have goals; 40 CPS (above the 35 CPS of the scale model) shows the ceiling.
    rates = {10: 60 if ctx.quick else 200, 20: 120 if ctx.quick else 400,
             40: 160 if ctx.quick else 480}
    plan, blocks = CalleePlan(), {}
    for i, (cps, calls) in enumerate(rates.items()):
        blocks[cps] = numbers(82 + i, calls)
        for n in blocks[cps]:
            plan.add(n, "answer", ring_ms=0, hold_ms=HOLD_MS)
    figures, details = [], {}
    with BenchLab(ctx) as lab:
        db = lab.database("pacing")
        prompts = lab.prompts(MESSAGE_MS, NOTICE_MS)
        for cps, nums in blocks.items():
            make_campaign(db, prompts, f"pace{cps}", nums, cps=cps, max_channels=300)
        with lab.simulator(plan, "pacing") as sim:
            runs = asyncio.run(lab.run_campaigns(db, [f"pace{cps}" for cps in blocks]))
            truth = truth_by_number(sim.truth())
        for (cps, nums), run_ in zip(blocks.items(), runs):
            keys = {n.lstrip("+") for n in nums}
            invites = sorted(t.invite_ms for k, t in truth.items() if k in keys and t.invite_ms)
            recorded = results(db, f"pace{cps}")
            answered = sum(1 for k in keys if recorded.get(k) and
                           recorded[k].outcome == "answered")
            rate = (len(invites) - 1) / ((invites[-1] - invites[0]) / 1000)
            gaps = [b - a for a, b in zip(invites, invites[1:])]
            ideal = len(nums) / cps + HOLD_MS / 1000
            cost = run_.controller_cpu_s / run_.asterisk_cpu_s
            details[f"{cps}cps"] = {
                "calls": len(nums), "invites": len(invites), "answered": answered,
                "rate": r(rate, 3), "rate_error": r(rate / cps - 1, 4),
                "gap_ms": {"median": r(statistics.median(gaps), 1), "min": r(min(gaps), 1),
                           "max": r(max(gaps), 1), "stdev": r(statistics.pstdev(gaps), 1)},
                "wall_s": r(run_.wall_s, 2), "ideal_s": r(ideal, 2),
                "controller_cpu_s": r(run_.controller_cpu_s, 2),
                "asterisk_cpu_s": r(run_.asterisk_cpu_s, 2),
                "controller_ms_per_call": r(1000 * run_.controller_cpu_s / len(nums), 2),
                "asterisk_ms_per_call": r(1000 * run_.asterisk_cpu_s / len(nums), 2),
                "hold_ms": HOLD_MS,
                "transactions_per_call": {name: r(n / len(nums), 2) for name, n in
                                          sorted(run_.transactions.items())}}
            graded = cps in GRADED
            figures += [
                Figure("pacing", f"rate at {cps} CPS ({len(invites)} INVITEs)", r(rate, 3),
                       "calls/s", cps, "target", goal="within ±2 %" if graded else None,
                       met=(abs(rate / cps - 1) <= GOAL_RATE and len(invites) == len(nums))
                       if graded else None,
                       note=f"{(rate / cps - 1) * 100:+.2f} %, gaps median "
                            f"{statistics.median(gaps):.1f} ms, max {max(gaps):.0f} ms"),
                Figure("pacing", f"efficiency at {cps} CPS: wall", r(run_.wall_s, 2), "s",
                       r(ideal, 2), "N/CPS + hold",
                       goal=f"ratio <= {GOAL_EFFICIENCY}" if graded else None,
                       met=(run_.wall_s / ideal <= GOAL_EFFICIENCY and answered == len(nums))
                       if graded else None),
                Figure("pacing", f"controller CPU at {cps} CPS", r(run_.controller_cpu_s, 2),
                       "s", r(run_.asterisk_cpu_s, 2), "Asterisk CPU",
                       goal=f"ratio <= {GOAL_COST}" if graded else None,
                       met=cost <= GOAL_COST if graded else None,
                       note=f"{1000 * run_.controller_cpu_s / len(nums):.1f} ms vs "
                            f"{1000 * run_.asterisk_cpu_s / len(nums):.1f} ms per call"),
            ]
    ctx.details["pacing"] = details
    return figures
