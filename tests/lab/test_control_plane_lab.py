"""What a call costs the controller, counted on the real lab (never timed: the timings are
benchmarks, bench/): Asterisk sends it only the AMI events it reads, and one answered call
costs a fixed number of database transactions. A change that brings back a flood of events
or another transaction per call fails here."""
import asyncio
import time
from collections import Counter

from campaigns import make_campaign, numbers, plan_for
from harness import serving

from sc_asterisk.asterisk_conf.render import AMI_EVENTS
from sc_asterisk.lab.sipp import Simulator

CALLS = 8
# What one answered call writes, each its own transaction: its claim, its answer (at once: a
# successor controller must know it rang), its end with what was heard (the call flow hands
# its measurements over: CallTracker.take_play).
PER_CALL = {"_claim": 1, "_mark_answered": 1, "finish_attempt": 1}
# Not per call: the reconciliation rounds (every heartbeat period, whatever the traffic); the
# rest once per controller or campaign.
PERIODIC = {"take_orphans", "sweep"}
ONCE = {"verify_key", "_register", "_publish_callback_prompts", "_publish", "_unregister",
        "_script_for", "pending_in"}


def test_a_campaign_costs_only_the_events_read_and_three_transactions_a_call(lab, db, prompts,
                                                                           tmp_path):
    nums = numbers(80, CALLS)
    make_campaign(db, prompts, "lean", nums, cps=10, max_channels=CALLS)
    events: Counter[str] = Counter()

    async def listen(controller):
        for link in controller.links.values():
            # every event the link receives, before any subscriber's filtering
            link.ami.on("*", lambda event: events.update([event.get("Event", "")]))

    async def go():
        async with serving(db, lab.node_info(), "lean", prepare=listen) as run:
            started = time.monotonic()
            await run.until_completed(60)
            await run.stop_dialing()
            return Counter(run.controller.worker.counts), time.monotonic() - started

    with Simulator(plan_for(nums, ring_ms=20, hold_ms=5000), lab.ports.callees, tmp_path) as sim:
        counts, seconds = asyncio.run(go())
        assert len(sim.invites()) == CALLS

    # Only what the controller reads came (responses to its own actions are not events).
    unread = set(events) - set(AMI_EVENTS) - {"CoreShowChannel", "CoreShowChannelsComplete"}
    assert not unread, f"Asterisk sent events nobody reads: {sorted(unread)}"
    assert events["OriginateResponse"] == CALLS and events["Hangup"] >= CALLS
    assert events["Newstate"] >= CALLS
    # An unfiltered call sends dozens (Newchannel, VarSet, NewExten, AGIExecStart...).
    assert sum(events.values()) <= 8 * CALLS, events

    per_call = {name: n for name, n in counts.items() if name not in PERIODIC | ONCE}
    unknown = set(per_call) - set(PER_CALL) - {"_running_ids"}
    assert not unknown, f"transactions not accounted for: {per_call}"
    for name in ("_mark_answered", "finish_attempt"):
        assert per_call[name] == CALLS, per_call
    # The dialing loop polls, it does not ask before each claim: the running campaigns once a
    # second; a claim per call, and once nothing is due one a second (a retry may come due),
    # not one per call ending, until its last call here ends and the campaign is done.
    polls = int(seconds) + 2
    assert counts["_running_ids"] <= polls, (counts, seconds)
    assert CALLS < per_call["_claim"] <= CALLS + polls, (counts, seconds)
