"""Claiming the next attempt to dial: every rule that must hold before an INVITE may leave,
checked in one transaction (campaign state, channel caps, pacing, calling window, suppression,
the per-number cap), and the attempt committed as ``originating`` before it is dialed."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..contacts.numbers import plan_regions
from ..db import CallAttempt, CallRecord, Campaign, Contact
from ..db.models_telecom import Trunk
from ..db.dialer_queries import (dials_since, due_attempts, heartbeat, inflight_by,
                                 inflight_per_node, lock_buckets, next_due_ms,
                                 number_in_flight, open_attempts, script_ms)
from .pacing import Bucket
from .retries import DAY_MS, RetryPolicy
from .states import AttemptState, CampaignStatus, transition
from .windows import FRANCE_DEFAULT, Never, Window, opening, parse_window

# Returns a reason not to dial this attempt (e.g. "suppressed"), or None.
DialCheck = Callable[[Session, CallAttempt], str | None]

# An attempt whose number is in flight in another attempt (any campaign) waits this long.
BUSY_NUMBER_WAIT_MS = 60_000


@dataclass(frozen=True)
class NodeSlot:
    name: str
    max_channels: int
    trunks: tuple[str, ...] = ()      # empty: carries every trunk

    def carries(self, trunk: str) -> bool:
        return not self.trunks or trunk in self.trunks


@dataclass(frozen=True)
class Claim:
    attempt_id: str
    number: str
    node: str
    trunk: str
    caller_id: str | None
    ring_timeout_s: int
    script_ms: int
    dial_prefix: str = ""
    amd: str | None = None        # the campaign's AMD policy, None: no detection
    campaign_id: int = 0
    # When (epoch seconds) the pacing buckets hold the next token: asking sooner is bound to
    # get a Wait. A hint that saves a database round trip, never a permission (the buckets
    # decide). Absolute, so the claim's own duration does not slow the pace down.
    next_token_at: float = 0.0
    # Names the campaign's script in the call flow's memory (``callflow.store.script_key``):
    # set by the scheduler, sent as SC_CAMPAIGN.
    script_key: str = ""
    # What the dialplan needs to play the whole script itself when no controller answers
    # the call (SC_SCRIPT, SC_OPTOUT_DIGIT, SC_OPTOUT_CONFIRM): set by the scheduler.
    fallback: tuple[tuple[str, str], ...] = ()

    @property
    def channel(self) -> str:
        """The Asterisk channel to originate: the trunk's endpoint has the trunk's name."""
        return f"PJSIP/{self.dial_prefix}{self.number}@{self.trunk}"


@dataclass(frozen=True)
class Wait:
    seconds: float | None      # None: until a call ends (a channel frees up)
    # Nothing is due: what is left of the campaign is calls in flight and retries for later.
    # A call ending changes that only when it was the last one (Done) or queued a retry.
    idle: bool = False


@dataclass(frozen=True)
class Done:
    """Nothing queued or in flight: the campaign is complete."""


@dataclass(frozen=True)
class Stopped:
    """The campaign was paused, cancelled or completed meanwhile."""


ClaimResult = Claim | Wait | Done | Stopped


def trunk_settings(s: Session, name: str) -> tuple[int | None, float | None, str]:
    """(max channels, cps, dial prefix) of the trunk; no limits for a trunk the table does not
    know (the lab's)."""
    trunk = s.scalar(select(Trunk).where(Trunk.name == name))
    if trunk is None:
        return None, None, ""
    return trunk.max_channels, trunk.cps, trunk.dial_prefix or ""


def claim_next(s: Session, campaign_id: int, nodes: list[NodeSlot], controller: str,
               dial_check: DialCheck | None = None, now: float | None = None
               ) -> ClaimResult:
    """Reserve one attempt of *campaign_id* on the least loaded of *nodes*, or say why not."""
    now = time.time() if now is None else now
    now_ms = int(now * 1000)
    campaign = s.get(Campaign, campaign_id, with_for_update=True)
    if campaign.status != CampaignStatus.RUNNING:
        return Stopped()
    trunk_max, trunk_cps, prefix = trunk_settings(s, campaign.trunk)
    carriers = [n for n in nodes if n.carries(campaign.trunk)]
    # Locks first, in one order (campaign row, then the buckets by scope: campaign, nodes,
    # trunk), then the counts they guard: two controllers never both take the last channel.
    paced = f"campaign:{campaign_id}"
    trunk_scope = f"trunk:{campaign.trunk}"
    locks = lock_buckets(s, [paced, trunk_scope] + [f"node:{n.name}" for n in carriers], now)
    if inflight_by(s, CallAttempt.campaign_id, campaign_id) >= campaign.max_channels:
        return Wait(None)
    if trunk_max is not None and inflight_by(s, CallAttempt.trunk, campaign.trunk) >= trunk_max:
        return Wait(None)
    load = inflight_per_node(s)
    free = sorted(((n.max_channels - load.get(n.name, 0), n.name) for n in carriers),
                  reverse=True)
    if not free or free[0][0] <= 0:
        return Wait(None)
    node = free[0][1]
    rows = [(locks[paced], campaign.cps)]
    if trunk_cps:
        rows.append((locks[trunk_scope], trunk_cps))
    buckets = [(Bucket(row.tokens, row.stamp), rate) for row, rate in rows]
    wait = max(bucket.wait(rate, now) for bucket, rate in buckets)
    if wait > 0:
        return Wait(wait)
    windows = tuple(parse_window(w) for w in (campaign.windows or "").splitlines() if w.strip()) \
        or (FRANCE_DEFAULT,)
    policy = RetryPolicy.from_json(campaign.retry_policy)
    when = datetime.fromtimestamp(now, timezone.utc)
    candidates = due_attempts(s, campaign_id, now_ms, limit=10)
    if not candidates:
        if open_attempts(s, campaign_id) == 0:
            return Done()
        due = next_due_ms(s, campaign_id)
        return Wait(None if due is None or due <= now_ms else min(60.0, (due - now_ms) / 1000),
                    idle=True)
    for attempt in candidates:
        wait = window_wait(attempt, when, windows)
        if isinstance(wait, int):
            attempt.not_before_ms = wait
            continue
        if _ringing_elsewhere(s, attempt, now_ms):
            attempt.not_before_ms = now_ms + BUSY_NUMBER_WAIT_MS
            continue
        reason = wait.reason if wait else (dial_check(s, attempt) if dial_check else None)
        if reason is None and dials_since(s, attempt.number, now_ms - policy.cap_window_days * DAY_MS) \
                >= policy.cap_attempts:
            reason = "capped"
        if reason is not None:
            if transition(s, attempt.id, AttemptState.SKIPPED):
                s.add(CallRecord(attempt_id=attempt.id, outcome=reason))
            continue
        if not transition(s, attempt.id, AttemptState.ORIGINATING, values={
                "node": node, "trunk": campaign.trunk, "controller": controller}):
            continue
        taken = [(bucket.take(rate, now), rate) for bucket, rate in buckets]
        for (row, _rate), (bucket, _rate) in zip(rows, taken):
            row.tokens, row.stamp = bucket.tokens, bucket.stamp
        next_token_at = now + max(bucket.wait(rate, now) for bucket, rate in taken)
        s.add(CallRecord(attempt_id=attempt.id, originate_ms=now_ms, caller_id=campaign.caller_id))
        # The claim commits with a fresh heartbeat: no other controller ever sees this call
        # held by a controller that looks dead (one just woken from a freeze, its heartbeat
        # thread not yet scheduled), so none closes it before its Originate leaves.
        heartbeat(s, controller)
        return Claim(attempt.id, attempt.number, node, campaign.trunk, campaign.caller_id,
                     campaign.ring_timeout_s, script_ms(s, campaign_id), prefix,
                     campaign.amd_policy, campaign_id, next_token_at)
    return Wait(0.0)


def _ringing_elsewhere(s: Session, attempt: CallAttempt, now_ms: int) -> bool:
    """Whether the callee may be on the line already from another attempt (another campaign's,
    another controller's): never ring one person twice at once. Their contact row is locked
    first, so two controllers claiming the same person in two campaigns take turns."""
    if attempt.contact_id is not None:
        s.execute(select(Contact.id).where(Contact.id == attempt.contact_id).with_for_update())
    return number_in_flight(s, attempt.number, attempt.id, now_ms)


def window_wait(attempt: CallAttempt, when: datetime, windows: tuple[Window, ...]
                ) -> Never | int | None:
    """Whether the calling windows let *attempt* be dialed at *when*: None if they do, else the
    epoch ms to wait until (a day when no opening comes soon), or Never: its contact's consent
    slot is unusable or outside every window, so it ends ``skipped`` instead of waiting for
    ever. Never raises for a contact's data: one bad row must not stop the claim loop."""
    contact = attempt.contact
    tz, slot = (contact.time_zone, contact.consent_slot) if contact else (None, None)
    opens = opening(when, tz, windows, slot, plan_regions(attempt.number))
    if isinstance(opens, Never):
        return opens
    if opens is None:
        return int(when.timestamp() * 1000) + DAY_MS
    return None if opens == when else int(opens.timestamp() * 1000)
