"""The dialing loop: for every running campaign, claim an attempt when the rules allow, dial
it on a node, follow it, record it. One loop for `campaign run` and for `serve`."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from .. import chanvars
from ..agi import agi_url
from ..aio import within
from ..ami import AmiClient
from ..audio import publish
from ..cel import FactsOf
from ..callflow.store import script_files
from ..db import Campaign
from ..db.worker import DbWorker
from ..nodes import NodeInfo
from .calls import CallTracker, Flight
from .claim import Claim, ClaimResult, DialCheck, Done, NodeSlot, Stopped, Wait, claim_next
from .finish import finish_attempt
from .reconcile import live_channels
from .states import CampaignStatus, OriginateResult, campaign_may_become

log = logging.getLogger(__name__)


# A claim is made this long before its pacing token is due, for that instant, and its Originate
# waits for it: the claim's database round trip (a commit, a few ms, more when the disk is busy)
# no longer delays the call, so INVITEs leave on the pace itself (issue 15, 40 CPS).
CLAIM_LEAD_S = 0.05
MAX_REFUSALS = 3      # Originates refused for one attempt before it is recorded as failed
NODE_REST_S = 5.0     # a node that refused an Originate gets no new call for this long


@dataclass
class NodeLink:
    info: NodeInfo
    ami: AmiClient
    max_channels: int = 200
    resting_until: float = 0.0

    @property
    def available(self) -> bool:
        return self.ami.connected and time.monotonic() >= self.resting_until


class Scheduler:
    """Example::

        scheduler = Scheduler(worker, tracker, {"n1": link}, controller_id="c1", agi_port=4573)
        await scheduler.run(only="demo")      # until the campaign completes
    """

    def __init__(self, worker: DbWorker, tracker: CallTracker, links: dict[str, NodeLink],
                 controller_id: str, agi_port: int, dial_check: DialCheck | None = None,
                 metrics=None, agi_token: str = "", facts: FactsOf | None = None):
        self.worker, self.tracker, self.links = worker, tracker, links
        self.agi_port = agi_port
        self.agi_token = agi_token    # the installation's FastAGI token, part of SC_AGI
        self.controller_id = controller_id
        # Suppression and any other last check before an INVITE may leave: never optional in
        # a real controller (the Controller always passes the suppression store's check).
        self.dial_check = dial_check
        self.metrics = metrics
        # What the nodes logged of each call (their CEL files): completes a call whose call
        # flow was lost on the way (finish.finish_attempt).
        self.facts = facts
        self.stopping = asyncio.Event()
        self._freed = asyncio.Event()
        self._calls: set[asyncio.Task] = set()
        self._published: set[int] = set()
        self._fallbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._refusals: dict[str, int] = {}
        # Per campaign, the time before which a claim would only return a pacing Wait.
        self._next_token: dict[int, float] = {}
        # Per campaign with nothing due (Wait.idle), until when (monotonic) its claims rest
        # while this controller still has calls of it up; and those calls, counted.
        self._idle_until: dict[int, float] = {}
        self._up: Counter[int] = Counter()

    def stop(self) -> None:
        """Stop claiming; calls in progress go on."""
        self.stopping.set()
        self._freed.set()

    async def run(self, only: str | None = None, poll_s: float = 1.0) -> None:
        """Dial until stopped, or with *only* until that campaign is completed or stopped.
        Calls still in progress go on; :meth:`drain` waits for them."""
        target = await self.worker.transaction(_campaign_id, only) if only else None
        ids: list[int] = [target] if target else []
        listed_at: float | None = None
        while not self.stopping.is_set():
            if not target and (listed_at is None or time.monotonic() - listed_at >= poll_s):
                # The running campaigns, listed again every *poll_s*, not before each claim
                # (a claim sees a paused or cancelled campaign itself: Stopped).
                ids, listed_at = await self.worker.transaction(_running_ids), time.monotonic()
            waits: list[float] = []
            progressed = finished = False
            ended: set[int] = set()
            for cid in ids:
                early = self._next_token.get(cid, 0.0) - time.time() - CLAIM_LEAD_S
                if early > 0:
                    waits.append(early)
                    continue
                resting = self._resting(cid)
                if resting:
                    # Nothing due: each call ending would only find the same. Asked again
                    # when its last call here ends (Done?) or after a while (a retry due,
                    # another controller's calls, contacts queued meanwhile).
                    waits.append(resting)
                    continue
                if cid not in self._published:
                    await self.worker.transaction(self._publish, cid)
                nodes = [NodeSlot(name, link.max_channels, link.info.trunks)
                         for name, link in self.links.items() if link.available]
                if not nodes:
                    waits.append(poll_s)
                    continue
                # The instant this claim is for: its token's, or (the first claim) a lead ahead.
                now = time.time()
                at = max(now, self._next_token.get(cid, now + CLAIM_LEAD_S))
                result = await self._try_claim(cid, nodes, poll_s, at)
                if isinstance(result, Claim):
                    self._next_token[cid] = result.next_token_at
                    self._up[cid] += 1
                    self._track(self._call(result, at))
                    progressed = True
                elif isinstance(result, (Done, Stopped)):
                    finished = finished or cid == target
                    ended.add(cid)
                elif isinstance(result, Wait):
                    if result.seconds is not None:
                        waits.append(result.seconds)
                        if not result.idle:        # a pacing wait, from the claim's instant
                            self._next_token[cid] = at + result.seconds
                    if result.idle:
                        self._idle_until[cid] = time.monotonic() + min(
                            poll_s, poll_s if result.seconds is None else result.seconds)
            if finished:
                break
            ids = [cid for cid in ids if cid not in ended]   # until the next listing
            if progressed:
                continue
            self._freed.clear()
            try:
                await within(self._freed.wait(), min(waits + [poll_s]))
            except asyncio.TimeoutError:
                pass

    def _resting(self, campaign_id: int) -> float:
        """Seconds the campaign's claims still rest (0: claim now)."""
        until = self._idle_until.get(campaign_id)
        left = 0.0 if until is None else until - time.monotonic()
        if left <= 0 or not self._up[campaign_id]:
            self._idle_until.pop(campaign_id, None)
            return 0.0
        return left

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for calls in progress; True when all ended within *timeout*."""
        if not self._calls:
            return True
        _done, pending = await asyncio.wait(set(self._calls), timeout=timeout)
        return not pending

    async def cancel_calls(self) -> None:
        """Stop following the calls still up. They stay as they are in the database (a write
        already begun finishes): the next controller reconciles them."""
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def adopt(self, attempt_id: str, node: str, answer_ms: int | None) -> None:
        """Follow a call a dead controller left up on *node* until it ends, then record it.

        Example: ``scheduler.adopt("0b1c...", "n1", answer_ms=None)``
        """
        flight = Flight(Claim(attempt_id, "", node, "", None, 0, 0),
                        answered=answer_ms is not None, answer_ms=answer_ms)
        self.tracker.adopt(flight)
        self._track(self._settle_adopted(flight))

    def _publish(self, s, campaign_id: int) -> None:
        """Put the campaign's prompts in every node's sounds directory before its first call."""
        assets = [seg.asset for seg in s.get(Campaign, campaign_id).segments]
        for link in self.links.values():
            for asset in assets:
                publish(asset, link.info.sounds_dir)
        self._published.add(campaign_id)

    async def _try_claim(self, campaign_id: int, nodes: list[NodeSlot], poll_s: float,
                         at: float) -> ClaimResult:
        """A claim for the instant *at* (epoch s); one lost to another controller (a row it
        inserted or locked first) or to a database away longer than the worker waits is tried
        again later, never the end of the dialing loop."""
        try:
            return await self.worker.transaction(self._claim, campaign_id, nodes, at)
        except (IntegrityError, OperationalError) as exc:
            log.warning("claim for campaign %s not made (%s); trying again", campaign_id,
                        type(exc.orig).__name__)
            return Wait(poll_s)

    def _claim(self, s, campaign_id: int, nodes: list[NodeSlot], at: float) -> ClaimResult:
        result = claim_next(s, campaign_id, nodes, self.controller_id, self.dial_check, now=at)
        if isinstance(result, Claim):
            result = replace(result, fallback=self._fallback(s, campaign_id, result.script_key,
                                                             result.node))
        if isinstance(result, Done):
            campaign = s.get(Campaign, campaign_id)
            if campaign_may_become(campaign.status, CampaignStatus.COMPLETED):
                campaign.status = CampaignStatus.COMPLETED
                log.info("campaign %s completed", campaign.name)
        return result

    def _fallback(self, s, campaign_id: int, key: str, node: str) -> tuple[tuple[str, str], ...]:
        """The Originate variables with which the dialplan plays the whole script itself if
        no controller answers the call (``[sc-resume]``): its files as *node* sees them, the
        opt-out digit and confirmation. Built once per script and node (on the database
        thread)."""
        found = self._fallbacks.get((key, node))
        if found is None:
            files, digit, confirm = script_files(s, campaign_id,
                                                 self.links[node].info.asterisk_sounds_dir)
            found = ((chanvars.SC_SCRIPT, "&".join(files)),
                     (chanvars.SC_OPTOUT_DIGIT, digit or ""),
                     (chanvars.SC_OPTOUT_CONFIRM, confirm or ""))
            self._fallbacks[(key, node)] = found
        return found

    def _track(self, call) -> None:
        task = asyncio.create_task(call)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _finish(self, flight: Flight, sent: OriginateResult) -> asyncio.Task:
        # A write that must finish: shielded from the call's cancellation, awaited at close.
        # From here the call flow writes its measurements itself (CallTracker.take_play).
        flight.ending = True
        return self.worker.submit(finish_attempt, flight, sent, self.controller_id, self.facts)

    async def _call(self, claim: Claim, at: float = 0.0) -> None:
        """Dial a claim at the instant it was claimed for (*at*, epoch s), follow it, record it."""
        link = self.links[claim.node]
        flight = Flight(claim)
        try:
            # Never more than the lead (a claim is made at most CLAIM_LEAD_S ahead): a wall
            # clock stepped back must not hold a claimed call.
            ahead = min(at - time.time(), CLAIM_LEAD_S)
            if ahead > 0:
                await asyncio.sleep(ahead)
            if self.metrics:
                self.metrics.originated(claim.node)
            sent = OriginateResult(await self.tracker.originate(
                link.ami, flight, claim.channel,
                agi_url(link.info.agi_host, self.agi_port, self.agi_token)))
            if sent is OriginateResult.SENT:
                await self.tracker.follow(flight)
            elif sent is OriginateResult.REFUSED:
                sent = self._after_refusal(link, claim.attempt_id)
            outcome = await asyncio.shield(self._finish(flight, sent))
            if self.metrics and outcome is not None:
                self.metrics.finished(outcome)
        except Exception:
            log.exception("attempt %s: could not be recorded", claim.attempt_id)
        finally:
            self.tracker.forget(claim.attempt_id)
            self._up[claim.campaign_id] -= 1
            self._freed.set()

    def _after_refusal(self, link: NodeLink, attempt_id: str) -> OriginateResult:
        """Asterisk refused the Originate (e.g. it is shutting down): nothing was dialed. The
        node rests for a while and the attempt is queued again, up to MAX_REFUSALS times."""
        link.resting_until = time.monotonic() + NODE_REST_S
        self._refusals[attempt_id] = self._refusals.get(attempt_id, 0) + 1
        if self._refusals[attempt_id] >= MAX_REFUSALS:
            return OriginateResult.REFUSED
        return OriginateResult.NOT_SENT

    async def _settle_adopted(self, flight: Flight, poll_s: float = 2.0) -> None:
        # Its answer or Hangup may have come between the channel list read for the adoption
        # and our following it (events then went to no one): the node is asked again at once,
        # then at every poll.
        link = self.links[flight.claim.node]
        while not flight.hung_up.is_set():
            live = await live_channels(link.ami) if link.ami.connected else None
            if flight.hung_up.is_set():
                break                               # its Hangup came meanwhile: seen
            if live is not None and flight.attempt_id not in live:
                self.tracker.gone(flight)           # gone, its end unseen
                break
            if live is not None and live[flight.attempt_id] == "Up":
                self.tracker.seen_up(flight.attempt_id)
            try:
                await within(flight.hung_up.wait(), poll_s)
            except asyncio.TimeoutError:
                pass
        try:
            await asyncio.shield(self._finish(flight, OriginateResult.SENT))
        finally:
            self.tracker.forget(flight.attempt_id)    # not written: reconcile.sweep settles it


def _campaign_id(s, name: str) -> int:
    from .campaigns import get_campaign
    return get_campaign(s, name).id


def _running_ids(s) -> list[int]:
    return list(s.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)
                          .order_by(Campaign.id)))
