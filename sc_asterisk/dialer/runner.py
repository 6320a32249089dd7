"""Run one campaign on one node: claim an attempt, check it may be dialed, originate, follow the
call through AMI events and the call flow, and record its outcome.

Exactly-once: an attempt is moved out of ``queued`` and committed before its Originate is sent,
and an Originate whose fate is unknown (link lost before Asterisk answered) is marked
``unknown``, never redialed automatically.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ami import AmiClient
from ..audio import publish
from ..callflow.store import CallStore
from ..db import CallAttempt, CallRecord, Campaign
from ..errors import AmiError, ConfigError
from ..lab.instance import NodeInfo
from .outcomes import as_int, outcome_for
from .pacing import TokenBucket

log = logging.getLogger(__name__)

# A hook called inside the claim transaction right before dialing; returns a reason to skip.
DialCheck = Callable[[Session, CallAttempt], str | None]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Flight:
    attempt_id: str
    originate_ms: int
    answered: bool = False
    answer_ms: int | None = None
    end_ms: int | None = None
    reason: int | None = None
    cause: int | None = None
    cause_txt: str | None = None
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    agi_done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class CampaignPlan:
    id: int
    max_channels: int
    cps: float
    ring_timeout_s: int
    script_ms: int
    caller_id: str | None


class CampaignRunner:
    """Example::

        runner = CampaignRunner(db, ami, node, store)
        handler = BroadcastHandler(store, on_finished=runner.agi_finished)
        summary = await runner.run("demo")
    """

    def __init__(self, ami: AmiClient, node: NodeInfo, store: CallStore,
                 dial_check: DialCheck | None = None, settle_s: float = 5.0):
        self.ami, self.node, self.store = ami, node, store
        self.dial_check = dial_check
        self.settle_s = settle_s
        self.flights: dict[str, Flight] = {}
        ami.on("OriginateResponse", self._on_originate_response)
        ami.on("Newstate", self._on_newstate)
        ami.on("Hangup", self._on_hangup)

    # -- call flow and AMI events ---------------------------------------------------------------
    def agi_finished(self, attempt_id: str) -> None:
        flight = self.flights.get(attempt_id)
        if flight is not None:
            flight.agi_done.set()

    def _on_originate_response(self, event: dict) -> None:
        action_id = event.get("ActionID", "")
        flight = self.flights.get(action_id[3:]) if action_id.startswith("sc-") else None
        if flight is None:
            return
        flight.reason = as_int(event.get("Reason"))
        if event.get("Response") == "Success" and not flight.answered:
            flight.answered, flight.answer_ms = True, _event_ms(event)
        flight.responded.set()

    def _on_newstate(self, event: dict) -> None:
        flight = self.flights.get(event.get("Uniqueid", ""))
        if flight is not None and event.get("ChannelStateDesc") == "Up" and not flight.answered:
            flight.answered, flight.answer_ms = True, _event_ms(event)

    def _on_hangup(self, event: dict) -> None:
        flight = self.flights.get(event.get("Uniqueid", ""))
        if flight is None:
            return
        flight.end_ms = _event_ms(event)
        flight.cause, flight.cause_txt = as_int(event.get("Cause")), event.get("Cause-txt")
        flight.hung_up.set()

    # -- the campaign loop ----------------------------------------------------------------------
    async def run(self, campaign_name: str) -> dict[str, int]:
        """Dial every queued attempt of the campaign and return outcomes counted."""
        plan, assets = await self.store.run(self._start, campaign_name)
        for asset in assets:
            publish(asset, self.node.sounds_dir)
        bucket = TokenBucket(plan.cps)
        slots = asyncio.Semaphore(plan.max_channels)
        calls: set[asyncio.Task] = set()
        outcomes: dict[str, int] = {}
        while True:
            await slots.acquire()
            while (wait := bucket.delay()) > 0:
                await asyncio.sleep(wait)
            claimed = await self.store.run(self._claim, plan.id)
            if claimed is None:
                slots.release()
                break
            bucket.take()
            task = asyncio.create_task(self._call(plan, claimed, slots, outcomes))
            calls.add(task)
            task.add_done_callback(calls.discard)
        if calls:
            await asyncio.gather(*calls)
        await self.store.run(self._complete, plan.id)
        return outcomes

    def _start(self, name: str) -> tuple[CampaignPlan, list]:
        from .campaigns import get_campaign
        with self.store.db.session() as s:
            campaign = get_campaign(s, name)
            roles = [seg.role for seg in campaign.segments]
            if "notice" not in roles:
                raise ConfigError(f"campaign {name!r} has no privacy notice",
                                  fix="create it with --notice AUDIO")
            if campaign.status not in ("draft", "running", "paused"):
                raise ConfigError(f"campaign {name!r} is {campaign.status}",
                                  fix="create a new campaign")
            campaign.status = "running"
            assets = [seg.asset for seg in campaign.segments]
            plan = CampaignPlan(campaign.id, campaign.max_channels, campaign.cps,
                                campaign.ring_timeout_s, sum(a.duration_ms for a in assets),
                                campaign.caller_id)
            return plan, assets

    def _claim(self, campaign_id: int) -> str | None:
        """Reserve the next queued attempt, re-checking campaign state and the dial check."""
        with self.store.db.session() as s:
            campaign = s.get(Campaign, campaign_id)
            while campaign.status == "running":
                attempt = s.scalar(select(CallAttempt)
                                   .where(CallAttempt.campaign_id == campaign_id,
                                          CallAttempt.state == "queued")
                                   .order_by(CallAttempt.created_at, CallAttempt.id).limit(1)
                                   .with_for_update(skip_locked=True))
                if attempt is None:
                    return None
                skip = self.dial_check(s, attempt) if self.dial_check else None
                if skip is not None:
                    attempt.state = "skipped"
                    s.add(CallRecord(attempt_id=attempt.id, outcome=skip))
                    s.flush()
                    continue
                attempt.state, attempt.node = "originating", self.node.name
                s.add(CallRecord(attempt_id=attempt.id, originate_ms=now_ms()))
                return attempt.id
            return None

    def _complete(self, campaign_id: int) -> None:
        with self.store.db.session() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign.status == "running":
                campaign.status = "completed"

    async def _call(self, plan: CampaignPlan, attempt_id: str, slots: asyncio.Semaphore,
                    outcomes: dict[str, int]) -> None:
        flight = Flight(attempt_id, now_ms())
        self.flights[attempt_id] = flight
        try:
            number = await self.store.run(_number_of, self.store.db, attempt_id)
            state = await self._originate(plan, flight, number)
            if state == "finished":
                await self._follow(plan, flight)
            outcome = outcome_for(flight.answered, flight.cause, flight.reason) \
                if state == "finished" else state
            await asyncio.shield(self.store.run(self._finish, flight, state, outcome))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            self.flights.pop(attempt_id, None)
            slots.release()

    async def _originate(self, plan: CampaignPlan, flight: Flight, number: str) -> str:
        fields = {"Action": "Originate", "ActionID": f"sc-{flight.attempt_id}",
                  "Channel": f"PJSIP/{number}@{self.node.trunk_endpoint}",
                  "Context": "sc-broadcast", "Exten": "s", "Priority": "1",
                  "Timeout": str(plan.ring_timeout_s * 1000), "Async": "true",
                  "ChannelId": flight.attempt_id, "Variable": f"SC_ATTEMPT={flight.attempt_id}"}
        if plan.caller_id:
            fields["CallerID"] = plan.caller_id
        try:
            await self.ami.action(fields)
            return "finished"
        except AmiError as exc:
            refused = "refused" in str(exc)
            log.error("attempt %s: originate %s: %s", flight.attempt_id,
                      "refused" if refused else "fate unknown", exc)
            # Refused by Asterisk: nothing left. No answer: it may have left, so never redial.
            return "failed" if refused else "unknown"

    async def _follow(self, plan: CampaignPlan, flight: Flight) -> None:
        ring_s = plan.ring_timeout_s + 15
        try:
            await asyncio.wait_for(flight.responded.wait(), ring_s)
        except asyncio.TimeoutError:
            log.warning("attempt %s: no OriginateResponse in %ss", flight.attempt_id, ring_s)
        if flight.answered:
            # The call lasts at most the script plus margins; the AGI session reports its end.
            limit = plan.script_ms / 1000 + 60
            await _wait_all([flight.hung_up, flight.agi_done], limit)
        else:
            await _wait_all([flight.hung_up], self.settle_s)

    def _finish(self, flight: Flight, state: str, outcome: str) -> None:
        with self.store.db.session() as s:
            attempt = s.get(CallAttempt, flight.attempt_id)
            attempt.state = state
            record = s.get(CallRecord, flight.attempt_id)
            record.outcome = outcome
            record.answer_ms = flight.answer_ms
            record.end_ms = flight.end_ms or now_ms()
            record.hangup_cause, record.hangup_cause_txt = flight.cause, flight.cause_txt
            if not flight.answered:
                record.hung_up_by = None


def _number_of(db, attempt_id: str) -> str:
    with db.session() as s:
        return s.get(CallAttempt, attempt_id).number


def _event_ms(event: dict) -> int:
    stamp = event.get("Timestamp")
    try:
        return int(float(stamp) * 1000) if stamp else now_ms()
    except ValueError:
        return now_ms()


async def _wait_all(events: list[asyncio.Event], timeout: float) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout)
    except asyncio.TimeoutError:
        log.warning("call did not settle in %.0fs", timeout)
