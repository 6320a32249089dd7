"""Claiming the next attempt to dial: every rule that must hold before an INVITE may leave,
checked in one transaction (campaign state, channel caps, pacing, calling window, suppression,
the per-number cap), and the attempt committed as ``originating`` before it is dialed."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

from sqlalchemy.orm import Session

from ..callflow.store import script_key_of
from ..contacts.numbers import plan_regions
from ..db.dialer_queries import (add_record, channels_held, claim_settings, defer_attempt,
                                 due_attempts, heartbeat, lock_buckets, lock_contact,
                                 next_due_ms, number_use, open_attempts, script_rows,
                                 store_buckets)
from .pacing import Bucket
from .retries import DAY_MS, RetryPolicy
from .states import AttemptState, CampaignStatus, transition
from .windows import FRANCE_DEFAULT, Never, Window, opening, parse_window

# Returns a reason not to dial this attempt (e.g. "suppressed"), or None; it reads the
# attempt's ``number``.
DialCheck = Callable[[Session, "Candidate"], str | None]

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
    # Names the campaign's script in the call flow's memory (``callflow.store.script_key``),
    # sent as SC_CAMPAIGN.
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


@dataclass(frozen=True)
class Candidate:
    """A queued attempt the claim may dial, as read for it: what the last checks need."""
    id: str
    number: str
    contact_id: int | None = None
    time_zone: str | None = None
    consent_slot: str | None = None


def claim_next(s: Session, campaign_id: int, nodes: list[NodeSlot], controller: str,
               dial_check: DialCheck | None = None, now: float | None = None
               ) -> ClaimResult:
    """Reserve one attempt of *campaign_id* on the least loaded of *nodes*, or say why not.

    Core statements on the session's connection (``db/dialer_queries.py``): about a dozen
    for a claim that dials, each one row or one aggregate."""
    now = time.time() if now is None else now
    now_ms = int(now * 1000)
    conn = s.connection()
    campaign = claim_settings(conn, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.RUNNING:
        return Stopped()
    carriers = [n for n in nodes if n.carries(campaign.trunk)]
    # Locks first, in one order (campaign row, then the buckets by scope: campaign, nodes,
    # trunk), then the counts they guard: two controllers never both take the last channel.
    paced = f"campaign:{campaign_id}"
    trunk_scope = f"trunk:{campaign.trunk}"
    locks = lock_buckets(conn, [paced, trunk_scope] + [f"node:{n.name}" for n in carriers], now)
    mine, on_trunk, load = channels_held(conn, campaign_id, campaign.trunk)
    if mine >= campaign.max_channels:
        return Wait(None)
    if campaign.trunk_max is not None and on_trunk >= campaign.trunk_max:
        return Wait(None)
    free = sorted(((n.max_channels - load.get(n.name, 0), n.name) for n in carriers),
                  reverse=True)
    if not free or free[0][0] <= 0:
        return Wait(None)
    node = free[0][1]
    rates = {paced: campaign.cps}
    if campaign.trunk_cps:
        rates[trunk_scope] = campaign.trunk_cps
    buckets = {scope: Bucket(locks[scope].tokens, locks[scope].stamp) for scope in rates}
    wait = max(bucket.wait(rates[scope], now) for scope, bucket in buckets.items())
    if wait > 0:
        return Wait(wait)
    windows = _windows(campaign.windows)
    policy = RetryPolicy.from_json(campaign.retry_policy)
    when = datetime.fromtimestamp(now, timezone.utc)
    candidates = due_attempts(conn, campaign_id, now_ms)
    if not candidates:
        if open_attempts(s, campaign_id) == 0:
            return Done()
        due = next_due_ms(s, campaign_id)
        return Wait(None if due is None or due <= now_ms else min(60.0, (due - now_ms) / 1000),
                    idle=True)
    for row in candidates:
        attempt = Candidate(*row)
        wait = window_wait(attempt, when, windows)
        if isinstance(wait, int):
            defer_attempt(conn, attempt.id, wait)
            continue
        # The callee may be on the line already from another attempt (another campaign's,
        # another controller's): never ring one person twice at once. Their contact row is
        # locked first, so two controllers claiming one person in two campaigns take turns.
        if attempt.contact_id is not None:
            lock_contact(conn, attempt.contact_id)
        busy, dials = number_use(conn, attempt.number, attempt.id, now_ms,
                                 now_ms - policy.cap_window_days * DAY_MS)
        if busy:
            defer_attempt(conn, attempt.id, now_ms + BUSY_NUMBER_WAIT_MS)
            continue
        reason = wait.reason if wait else (dial_check(s, attempt) if dial_check else None)
        if reason is None and dials >= policy.cap_attempts:
            reason = "capped"
        if reason is not None:
            if transition(s, attempt.id, AttemptState.SKIPPED):
                add_record(conn, attempt_id=attempt.id, outcome=reason)
            continue
        if not transition(s, attempt.id, AttemptState.ORIGINATING, values={
                "node": node, "trunk": campaign.trunk, "controller": controller}):
            continue
        taken = {scope: bucket.take(rates[scope], now) for scope, bucket in buckets.items()}
        store_buckets(conn, {scope: (b.tokens, b.stamp) for scope, b in taken.items()})
        next_token_at = now + max(b.wait(rates[scope], now) for scope, b in taken.items())
        add_record(conn, attempt_id=attempt.id, originate_ms=now_ms, caller_id=campaign.caller_id)
        # The claim commits with a fresh heartbeat: no other controller ever sees this call
        # held by a controller that looks dead (one just woken from a freeze, its heartbeat
        # thread not yet scheduled), so none closes it before its Originate leaves.
        heartbeat(s, controller)
        script = script_rows(conn, campaign_id)
        return Claim(attempt.id, attempt.number, node, campaign.trunk, campaign.caller_id,
                     campaign.ring_timeout_s, sum(seg.duration_ms for seg in script),
                     campaign.dial_prefix or "", campaign.amd_policy, campaign_id,
                     next_token_at, script_key=script_key_of(campaign_id, script))
    return Wait(0.0)


@lru_cache(maxsize=64)
def _windows(text: str | None) -> tuple[Window, ...]:
    """A campaign's calling windows, parsed once per text (a claim runs before every call)."""
    return tuple(parse_window(w) for w in (text or "").splitlines() if w.strip()) \
        or (FRANCE_DEFAULT,)


def window_wait(attempt: Candidate, when: datetime, windows: tuple[Window, ...]
                ) -> Never | int | None:
    """Whether the calling windows let *attempt* be dialed at *when*: None if they do, else the
    epoch ms to wait until (a day when no opening comes soon), or Never: its contact's consent
    slot is unusable or outside every window, so it ends ``skipped`` instead of waiting for
    ever. Never raises for a contact's data: one bad row must not stop the claim loop."""
    opens = opening(when, attempt.time_zone, windows, attempt.consent_slot,
                    plan_regions(attempt.number))
    if isinstance(opens, Never):
        return opens
    if opens is None:
        return int(when.timestamp() * 1000) + DAY_MS
    return None if opens == when else int(opens.timestamp() * 1000)
