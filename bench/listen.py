"""Listen-time error: lab calls whose SIPp callees hang up at random scripted times across the
message and the notice. Error per call = listened ms measured by the controller (message +
notice, from STREAM FILE's endpos) − what SIPp's hold implies (hold = BYE sent − 200 OK sent,
capped at the script). Baseline on the same calls: Asterisk's CDR billsec (Cdr AMI events)
× 1000 − the same SIPp hold.
"""
from __future__ import annotations

import asyncio
import random

from sc_asterisk.lab.sipp import CalleePlan

from .common import Figure, Run, r, summary
from .labkit import BenchLab, expected_ms, make_campaign, numbers, results, truth_by_number

MESSAGE_MS, NOTICE_MS = 6000, 4000
SCRIPT = [("message", MESSAGE_MS), ("notice", NOTICE_MS)]
GOAL_MEDIAN_MS, GOAL_MAX_MS = 20, 60


def run(ctx: Run) -> list[Figure]:
    """Lab calls with scripted hang-ups. Example: ``run(Run(quick=True, workdir=w))``"""
    calls = 40 if ctx.quick else 200
    rng = random.Random(8)
    nums = numbers(81, calls)
    # Hang-ups anywhere in the script, but not within 300 ms of its ends: every call is a
    # callee hang-up in the middle of a segment, the case the measurement exists for.
    holds = {n: rng.randint(300, MESSAGE_MS + NOTICE_MS - 300) for n in nums}
    plan = CalleePlan()
    for n in nums:
        plan.add(n, "answer", ring_ms=200, hold_ms=holds[n])
    with BenchLab(ctx) as lab:
        db = lab.database("listen")
        make_campaign(db, lab.prompts(MESSAGE_MS, NOTICE_MS), "listen", nums, cps=10,
                      max_channels=100)
        with lab.simulator(plan, "listen") as sim:
            (campaign,) = asyncio.run(lab.run_campaigns(db, ["listen"]))
            truth = truth_by_number(sim.truth())
        recorded = results(db, "listen")

    ours, cdr, by_segment, missing, worst = [], [], {"message": [], "notice": []}, [], []
    for key, call in recorded.items():
        t = truth.get(key)
        if t is None or t.outcome != "answered" or call.outcome != "answered":
            missing.append(key)
            continue
        hold = t.end_ms - t.answer_ms
        expected = expected_ms(hold, SCRIPT)
        heard = {role: call.segments.get(role, (0, ""))[0] for role, _ in SCRIPT}
        ours.append(sum(heard.values()) - sum(expected.values()))
        worst.append((abs(ours[-1]), {"attempt": call.attempt_id, "hold_ms": r(hold, 1),
                                      "error_ms": r(ours[-1], 1), "heard": call.segments}))
        # The segment the callee hung up in carries the timing error; earlier ones are whole.
        where = "message" if hold < MESSAGE_MS else "notice"
        by_segment[where].append(heard[where] - expected[where])
        event = campaign.cdrs.get(call.attempt_id)
        if event is not None and event.get("BillableSeconds", "").isdigit():
            cdr.append(int(event["BillableSeconds"]) * 1000 - hold)
    mine, base = summary(ours), summary(cdr)
    ctx.details["listen"] = {
        "calls": calls, "answered_and_measured": len(ours), "not_measured": missing[:20],
        "script_ms": dict(SCRIPT), "cps": 10,
        "error_ms": {k: r(v, 1) for k, v in mine.items()},
        "error_ms_by_hangup_segment": {k: {m: r(v, 1) for m, v in summary(v).items()}
                                       for k, v in by_segment.items()},
        "cdr_billsec_error_ms": {k: r(v, 1) for k, v in base.items()},
        "worst": [w for _, w in sorted(worst, key=lambda x: -x[0])[:5]],
        # A hang-up answered with endpos = the whole file (see README): counted apart.
        "full_length_on_hangup": sum(1 for _, w in worst if any(
            stop == "hangup" and ms == dict(SCRIPT)[role]
            for role, (ms, stop) in w["heard"].items())),
        "note": "negative = measured less than SIPp's hold (the call setup before the first "
                "audio frame is part of the hold)"}
    met_median = mine.get("median_abs", 1e9) <= GOAL_MEDIAN_MS
    met_max = mine.get("max_abs", 1e9) <= GOAL_MAX_MS and not missing
    return [
        Figure("listen", f"listen-time error, median |err| ({len(ours)} calls)",
               r(mine.get("median_abs"), 1), "ms", r(base.get("median_abs"), 1),
               "CDR billsec", goal=f"<= {GOAL_MEDIAN_MS} ms", met=met_median,
               note=f"signed median {mine.get('median_signed', 0):+.0f} ms, "
                    f"p95 {mine.get('p95_abs', 0):.0f} ms"),
        Figure("listen", "listen-time error, max |err|", r(mine.get("max_abs"), 1), "ms",
               r(base.get("max_abs"), 1), "CDR billsec", goal=f"<= {GOAL_MAX_MS} ms",
               met=met_max, note=f"{len(missing)} calls not measured" if missing else None),
    ]
