"""Asterisk's own CPU per minute of call: prompts published as WAV only (the baseline: Asterisk
encodes every 20 ms frame to the call's A-law) against WAV with G.711 beside it (the file's
bytes are sent as they are: ``audio.publish``). Same lab, same callees, same run.

Each campaign's callees answer at once and hold HOLD_MS, listening to a message longer than
that; Asterisk's CPU (/proc) over the campaign, per call, scaled to 60 s of call (the setup and
teardown share is small at these holds and is counted in both). A later campaign on the same
Asterisk was seen to cost up to 25 % more than an earlier one whatever its prompts, so the two
kinds run in the order A B B A and each figure is the mean of its two campaigns.
"""
from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from unittest import mock

from sc_asterisk import audio

from .common import Figure, Run, r
from .labkit import BenchLab, make_campaign, numbers

HOLD_MS = 20_000
CPS = 10


def run(ctx: Run) -> list[Figure]:
    """Two campaigns: WAV only, then WAV + G.711. Example: ``run(Run(quick=True, workdir=w))``"""
    from sc_asterisk.lab.sipp import CalleePlan
    calls = 20 if ctx.quick else 60
    order = ("wav-1", "g711-1", "g711-2", "wav-2")
    plan, blocks = CalleePlan(), {}
    for i, name in enumerate(order):
        blocks[name] = numbers(90 + i, calls)
        for n in blocks[name]:
            plan.add(n, "answer", ring_ms=0, hold_ms=HOLD_MS)
    cpu: dict[str, float] = {}
    with BenchLab(ctx) as lab:
        db = lab.database("codec")
        for i, (name, nums) in enumerate(blocks.items()):
            # one prompt per campaign (another tone: another file), longer than the hold
            prompts = lab.prompts(HOLD_MS + 5000 + i, 1000)
            make_campaign(db, prompts, f"codec-{name}", nums, cps=CPS, max_channels=calls)
        sounds = Path(lab.instance.node_info().sounds_dir)
        for old in [*sounds.glob("*.alaw"), *sounds.glob("*.ulaw")]:
            old.unlink()                     # the baseline's prompts must be WAV only
        with lab.simulator(plan, "codec") as sim:
            for name in order:
                with mock.patch.dict(audio.G711, clear=name.startswith("wav")):
                    run_, = asyncio.run(lab.run_campaigns(db, [f"codec-{name}"]))
                cpu[name] = run_.asterisk_cpu_s
            answered = len(sim.truth())
    per_minute = {kind: statistics.fmean(1000 * cpu[f"{kind}-{i}"] / calls * 60_000 / HOLD_MS
                                         for i in (1, 2)) for kind in ("wav", "g711")}
    ratio = per_minute["g711"] / per_minute["wav"]
    ctx.details["codec"] = {
        "calls": calls, "hold_ms": HOLD_MS, "cps": CPS, "sipp_calls": answered,
        "order": list(order), "asterisk_cpu_s": {k: r(v, 2) for k, v in cpu.items()},
        "asterisk_ms_per_60s_call": {k: r(v, 1) for k, v in per_minute.items()}}
    return [Figure("codec", "Asterisk CPU per 60 s call, prompts with G.711",
                   r(per_minute["g711"], 1), "ms", r(per_minute["wav"], 1), "WAV only (transcoded)",
                   note=f"ratio {ratio:.2f}; {calls} calls of {HOLD_MS // 1000} s a campaign, "
                        "campaigns A B B A")]
