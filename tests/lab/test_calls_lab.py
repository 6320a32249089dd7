"""Following calls through the real lab (issue 13, findings 4, 8 and 11): an AMI cut while
calls ring leaves them ``unknown`` and never redialed (retries on), every AMD() argument reaches
Asterisk, and the callee's BYE is recorded with its Q.850 cause."""
import asyncio
import dataclasses
from collections import Counter

from sqlalchemy import select

from campaigns import make_campaign, numbers, plan_for, wait_until
from harness import lab_key, run_to_end, serving
from sc_asterisk.db import CallAttempt, Contact
from sc_asterisk.dialer.campaigns import get_campaign, queue_contacts
from sc_asterisk.errors import AmiError
from sc_asterisk.lab.sipp import CalleePlan, Simulator


def rows(db, name) -> list[tuple]:
    """(number without '+', attempt_no, state, outcome, channel_gone_ms, record) per attempt."""
    with db.session() as s:
        cid = get_campaign(s, name).id
        return [(a.number.lstrip("+"), a.attempt_no, a.state,
                 a.record.outcome if a.record else None, getattr(a, "channel_gone_ms", None),
                 a.record)
                for a in s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == cid))]


class AmiCut:
    """A TCP proxy in front of the lab's AMI: :meth:`cut` drops the controller's link and
    refuses it back until :meth:`restore` (Asterisk goes on, its events are lost)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.refusing = False
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.refusing = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def _conn(self, down_r, down_w):
        if self.refusing:
            down_w.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [down_w, up_w]

        async def pump(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            writer.transport.abort()

        await asyncio.gather(pump(down_r, up_w), pump(up_r, down_w), return_exceptions=True)


def test_an_ami_cut_while_calls_ring_leaves_them_unknown_and_never_redialed(
        lab, db, prompts, tmp_path):
    """Three callees ring; the AMI link is cut and stays down until their calls have ended
    (their events are lost); when it is back, CoreShowChannels fails three times before it
    answers. Production retry policy (``failed`` is retried after 5 minutes)."""
    ringing = numbers(70, 3)
    later = numbers(71, 1)
    make_campaign(db, prompts, "amicut-ring", ringing, max_channels=3, cps=10,
                  ring_timeout_s=6, retry_policy=None)
    plan = plan_for(ringing, "noanswer")
    plan.add(later[0], "answer", ring_ms=50, hold_ms=1000)
    node = lab.node_info()
    failures = {"left": 0, "seen": 0}

    async def go(sim):
        proxy = AmiCut(node.ami_port)
        via_proxy = dataclasses.replace(node, ami_port=await proxy.start())
        async with serving(db, via_proxy, "amicut-ring", key=lab_key()) as run:
            ami = run.controller.links[node.name].ami
            listing = ami.live_channels

            async def flaky_listing():
                if failures["left"] > 0:
                    failures["left"] -= 1
                    failures["seen"] += 1
                    raise AmiError("CoreShowChannels got no answer in time", fix="-")
                return await listing()
            ami.live_channels = flaky_listing

            await wait_until(lambda: len(sim.invites()) == 3, 20)
            with db.session() as s:                  # one more callee, queued behind the three
                contact = Contact(e164=later[0], time_zone="Europe/Paris")
                s.add(contact)
                s.flush()
                queue_contacts(s, get_campaign(s, "amicut-ring"), [contact.id])
            proxy.cut()
            await wait_until(lambda: not ami.connected, 5)
            ended = {n.lstrip("+") for n in ringing}
            await wait_until(lambda: {t.number for t in sim.truth()
                                      if t.end_ms is not None} >= ended, 20)
            failures["left"] = 3
            proxy.restore()
            await wait_until(lambda: ami.connected, 40)
            await run.until_completed(60)
            await wait_until(lambda: all(r[4] is not None for r in rows(db, "amicut-ring")
                                         if r[2] == "unknown"), 70)
            await run.stop_dialing()
        proxy.server.close()

    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        asyncio.run(go(sim))
        invited = Counter(n for _ms, n in sim.invites())
        truth = {t.number: t for t in sim.truth()}
    assert failures["seen"] == 3                  # the listing did fail after the reconnect
    every = rows(db, "amicut-ring")
    assert len(every) == 4                        # one attempt each: no retry was queued
    result = {r[0]: r for r in every}
    for number in ringing:
        _n, attempt_no, state, outcome, gone_ms, _rec = result[number.lstrip("+")]
        assert (attempt_no, state, outcome) == (1, "unknown", "unknown"), result[number[1:]]
        assert gone_ms is not None                # Asterisk confirmed the channel gone
    assert invited == Counter({n.lstrip("+"): 1 for n in ringing + later})   # nobody twice
    # the slots stayed taken until the three calls were over: the fourth rang after them
    assert truth[later[0][1:]].invite_ms > max(truth[n[1:]].end_ms for n in ringing)
    assert result[later[0][1:]][3] == "answered"


def test_every_amd_argument_reaches_amd(lab, db, prompts, tmp_path):
    """AMD()'s 2nd argument (greeting, ms) set to 300: the human callee's "Allô ?" (0.55 s)
    is a greeting too long, MACHINE. On main only the text before the first comma reached
    AMD() (here nothing): amd.conf's 1500 ms, HUMAN (tests/lab/test_callflow_lab.py shows
    that default decision for the same callee). Asterisk's verbose log then read
    ``AMD("PJSIP/lab-…", ",300,,,,,,,")`` and ``greeting [300]``."""
    human = numbers(72, 1)
    make_campaign(db, prompts, "amd-args", human, max_channels=1, cps=5, ring_timeout_s=5,
                  amd_policy="hangup:,300")
    plan = CalleePlan()
    plan.add(human[0], "human", ring_ms=100, hold_ms=12000)
    with Simulator(plan, lab.ports.callees, tmp_path) as sim:
        run_to_end(db, lab.node_info(), "amd-args", key=lab_key())
        assert len(sim.invites()) == 1
    (_n, _no, _state, outcome, _gone, record), = rows(db, "amd-args")
    assert (record.amd_result, record.amd_cause) == ("MACHINE", "LONGGREETING-300-300")
    assert outcome == "machine"


def test_the_callees_bye_is_recorded_with_cause_16(lab, db, prompts, tmp_path):
    """The callee hangs up mid-message (SIPp sends BYE): Q.850 16, normal clearing; on main
    the record said 0 "Unknown"."""
    nums = numbers(73, 2)
    make_campaign(db, prompts, "bye", nums, max_channels=2, cps=5, ring_timeout_s=5)
    with Simulator(plan_for(nums, ring_ms=100, hold_ms=2000), lab.ports.callees, tmp_path) as sim:
        run_to_end(db, lab.node_info(), "bye", key=lab_key())
        truth = sim.truth()
    assert {t.ended_by for t in truth} == {"callee"}
    for _n, _no, state, outcome, _gone, record in rows(db, "bye"):
        assert (state, outcome, record.hung_up_by) == ("finished", "answered", "callee")
        assert record.hangup_cause == 16, (record.hangup_cause, record.hangup_cause_txt)
