"""The dialing loop: for every running campaign, claim an attempt when the rules allow, dial
it on a node, follow it, record it. One loop for `campaign run` and for `serve`."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from ..aio import within
from ..ami import AmiClient
from ..audio import publish
from ..callflow.store import CallStore
from ..db import Campaign
from ..nodes import NodeInfo
from .calls import CallTracker, Flight
from .claim import DONE, STOPPED, Claim, DialCheck, NodeSlot, Wait, claim_next
from .finish import finish_attempt

log = logging.getLogger(__name__)


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

        scheduler = Scheduler(store, tracker, {"n1": link}, controller_id="c1", agi_port=4573)
        await scheduler.run(only="demo")      # until the campaign completes
    """

    def __init__(self, store: CallStore, tracker: CallTracker, links: dict[str, NodeLink],
                 controller_id: str, agi_port: int, dial_check: DialCheck | None = None,
                 metrics=None):
        self.store, self.tracker, self.links = store, tracker, links
        self.agi_port = agi_port
        self.controller_id = controller_id
        # Suppression and any other last check before an INVITE may leave: never optional in
        # a real controller (the Controller always passes the suppression store's check).
        self.dial_check = dial_check
        self.metrics = metrics
        self.stopping = asyncio.Event()
        self._freed = asyncio.Event()
        self.calls: set[asyncio.Task] = set()
        self._published: set[int] = set()
        self._refusals: dict[str, int] = {}
        # Per campaign, the time before which a claim would only return a pacing Wait.
        self._next_token: dict[int, float] = {}

    def stop(self) -> None:
        """Stop claiming; calls in progress go on."""
        self.stopping.set()
        self._freed.set()

    async def run(self, only: str | None = None, poll_s: float = 1.0) -> None:
        """Dial until stopped, or with *only* until that campaign is completed or stopped.
        Calls still in progress go on; :meth:`drain` waits for them."""
        target = await self.store.run(_campaign_id, self.store.db, only) if only else None
        while not self.stopping.is_set():
            ids = [target] if target else await self.store.run(_running_ids, self.store.db)
            waits: list[float] = []
            progressed = finished = False
            for cid in ids:
                early = self._next_token.get(cid, 0.0) - time.time()
                if early > 0:
                    waits.append(early)
                    continue
                if cid not in self._published:
                    await self.store.run(self._publish, cid)
                nodes = [NodeSlot(name, link.max_channels, link.info.trunks)
                         for name, link in self.links.items() if link.available]
                if not nodes:
                    waits.append(poll_s)
                    continue
                result = await self.store.run(self._claim, cid, nodes)
                if isinstance(result, Claim):
                    self._next_token[cid] = result.next_token_at
                    self._start_call(result)
                    progressed = True
                elif result in (DONE, STOPPED):
                    finished = finished or cid == target
                elif result.seconds is not None:
                    waits.append(result.seconds)
            if finished:
                break
            if progressed:
                continue
            self._freed.clear()
            try:
                await within(self._freed.wait(), min(waits + [poll_s]))
            except asyncio.TimeoutError:
                pass

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for calls in progress; True when all ended within *timeout*."""
        if not self.calls:
            return True
        _done, pending = await asyncio.wait(set(self.calls), timeout=timeout)
        return not pending

    def _publish(self, campaign_id: int) -> None:
        """Put the campaign's prompts in every node's sounds directory before its first call."""
        with self.store.db.session() as s:
            assets = [seg.asset for seg in s.get(Campaign, campaign_id).segments]
            for link in self.links.values():
                for asset in assets:
                    publish(asset, link.info.sounds_dir)
        self._published.add(campaign_id)

    def _claim(self, campaign_id: int, nodes: list[NodeSlot]):
        with self.store.db.session() as s:
            result = claim_next(s, campaign_id, nodes, self.controller_id, self.dial_check)
            if result == DONE:
                campaign = s.get(Campaign, campaign_id)
                if campaign.status == "running":
                    campaign.status = "completed"
                    log.info("campaign %s completed", campaign.name)
            return result

    def _start_call(self, claim: Claim) -> None:
        task = asyncio.create_task(self._call(claim))
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def _call(self, claim: Claim) -> None:
        link = self.links[claim.node]
        flight = Flight(claim)
        try:
            if self.metrics:
                self.metrics.originated(claim.node)
            state = await self.tracker.originate(
                link.ami, flight, claim.channel, f"agi://{link.info.agi_host}:{self.agi_port}")
            if state == "originating":
                await self.tracker.follow(flight)
            elif state == "failed":
                state = self._after_refusal(link, claim.attempt_id)
            outcome = await asyncio.shield(self.store.run(self._finish, flight, state))
            if self.metrics:
                self.metrics.finished(outcome)
        except Exception:
            log.exception("attempt %s: could not be recorded", claim.attempt_id)
        finally:
            self.tracker.forget(claim.attempt_id)
            self._freed.set()

    def _after_refusal(self, link: NodeLink, attempt_id: str) -> str:
        """Asterisk refused the Originate (e.g. it is shutting down): nothing was dialed. The
        node rests for a while and the attempt is queued again, up to MAX_REFUSALS times."""
        link.resting_until = time.monotonic() + NODE_REST_S
        self._refusals[attempt_id] = self._refusals.get(attempt_id, 0) + 1
        if self._refusals[attempt_id] >= MAX_REFUSALS:
            return "failed"
        return "not_sent"

    def _finish(self, flight: Flight, state: str) -> str:
        with self.store.db.session() as s:
            return finish_attempt(s, flight, state)


def _campaign_id(db, name: str) -> int:
    from .campaigns import get_campaign
    with db.session() as s:
        return get_campaign(s, name).id


def _running_ids(db) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(Campaign.id).where(Campaign.status == "running")
                              .order_by(Campaign.id)))
