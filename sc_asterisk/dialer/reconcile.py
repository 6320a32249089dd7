"""Reconciliation: attempts left in flight by a controller that died are matched with what
Asterisk still has. A live channel is re-adopted; anything else is marked ``unknown`` and is
never redialed automatically, because the person may have been rung.

Also here: the resync of one node's calls after an AMI reconnect (:func:`resync`), and the
sweep of attempts stuck in flight and of ``unknown`` calls whose channel slot Asterisk has not
yet released (:func:`sweep`).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timezone

from sqlalchemy import bindparam, select

from ..ami import AmiClient
from ..db import CallAttempt, CallRecord
from ..db.dialer_queries import orphaned_inflight, take_over
from ..cel import FactsOf
from ..errors import AmiError
from .calls import CallTracker
from .rebuild import settle_from_facts
from .states import INFLIGHT_STATES, AttemptState, transition

log = logging.getLogger(__name__)

# No call of ours lasts this long (ring timeout, AMD, the script): past it, an attempt no
# node can be asked about is over.
STALE_MS = 3_600_000
# An attempt this controller claimed but no longer follows (its end could not be written) is
# swept once this old: younger, its Originate may not have been sent yet, nor its channel made.
UNFOLLOWED_GRACE_MS = 60_000
# Asterisk makes an accepted Originate's channel at once; the controller gives up waiting for
# the answer to the action after 10 s (AmiClient's action timeout). A channel not listed by a
# successful CoreShowChannels this long after the Originate was sent is gone (or was never
# made), and its slot is free again.
CHANNEL_APPEARS_MS = 15_000
RESYNC_MAX_DELAY_S = 16.0


async def live_channels(ami: AmiClient) -> dict[str, str] | None:
    """The node's channels: channel id (our attempt id) -> state ("Up", "Ringing"...), or None
    when the node cannot say."""
    try:
        return await ami.live_channels()
    except AmiError:
        return None


def take_orphans(s, controller_id: str, stale_after_ms: int,
                 channels: dict[str, dict[str, str] | None],
                 now_ms: int, facts: FactsOf | None = None
                 ) -> list[tuple[str, str, int | None]]:
    """Adopt or close every orphaned in-flight attempt: those of controllers whose heartbeat
    is older than *stale_after_ms* by the database's clock. Adoption is a conditional UPDATE
    (``take_over``): of several controllers only one wins. Returns (attempt id, node, answer ms
    or None) for the adopted ones, whose calls are still up on their node. One the node no
    longer lists is settled from what Asterisk logged of it (*facts*: (node, attempt id) ->
    CallFacts or None, see dialer/rebuild.py), or else becomes ``unknown`` (conditional on the
    controller seen); its channel slot is freed at once when its Originate is older than
    CHANNEL_APPEARS_MS (else :func:`sweep` frees it later). *facts* journals an opt-out the log
    shows (pressed while the dialplan played alone) as it reads it, before anything is settled
    (``Controller.logged_facts``)."""
    adopted = []
    for attempt in orphaned_inflight(s, controller_id, stale_after_ms):
        live = channels.get(attempt.node or "")
        if live is None:
            continue            # the node cannot tell us now: try again later
        if attempt.id in live:
            if not take_over(s, attempt.id, controller_id, stale_after_ms):
                continue        # another controller won it, or its own came back
            record = s.get(CallRecord, attempt.id)
            answer_ms = record.answer_ms if record is not None else None
            if answer_ms is None and live[attempt.id] == "Up":
                answer_ms = record.originate_ms if record is not None else 0
            adopted.append((attempt.id, attempt.node, answer_ms))
            log.warning("attempt %s re-adopted from a dead controller", attempt.id)
            continue
        record = s.get(CallRecord, attempt.id)
        if _settle_logged(s, attempt, record, facts):
            continue
        if not _settle_unknown(s, attempt, record):
            continue
        if now_ms - _started_ms(attempt, record) > CHANNEL_APPEARS_MS:
            attempt.channel_gone_ms = now_ms    # the node's list says so: its slot is free
        log.warning("attempt %s: controller died mid-call, fate unknown: not redialed", attempt.id)
    return adopted


async def resync(tracker: CallTracker, node: str, ami: AmiClient, retry_s: float = 1.0) -> None:
    """After a (re)login on *node*: the calls sent over an earlier link whose channel is gone
    ended while the link was down, unseen; they are settled as lost (``unknown`` when not
    answered). Settled only on a successful channel list: when the node cannot give one,
    nothing changes (the calls stay followed, their slots counted) and it is asked again,
    until a newer login takes over.

    Example: ``ami.on_login(lambda: resync(tracker, "n1", ami))``
    """
    connection = ami.connections
    delay = retry_s
    while tracker.follows_on(node, before=connection) and ami.connections == connection:
        live = await live_channels(ami)
        if live is not None:
            tracker.node_lost(node, live, before=connection)
            return
        log.warning("%s: no channel list after the reconnect; calls kept, asking again in "
                    "%.0fs", node, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESYNC_MAX_DELAY_S)


# In flight, and this controller's but not followed, or with no node to ask: built once with
# expanding parameters (a list of every followed call inlined made each round build and key a
# new statement: the sweep cost more than a claim).
_SWEPT = (select(CallAttempt, CallRecord).outerjoin(CallRecord)
          .where(CallAttempt.state.in_(INFLIGHT_STATES),
                 ((CallAttempt.controller == bindparam("me"))
                  & CallAttempt.id.notin_(bindparam("followed", expanding=True)))
                 | CallAttempt.node.is_(None)
                 | CallAttempt.node.notin_(bindparam("nodes", expanding=True))
                 | (CallRecord.direction == "inbound"))
          .with_for_update(skip_locked=True, of=CallAttempt))


def sweep(s, controller_id: str, channels: dict[str, dict[str, str] | None],
          followed: set[str], now_ms: int, facts: FactsOf | None = None
          ) -> list[tuple[str, str, int | None]]:
    """Settle what no one else will (run periodically by the controller, after
    :func:`take_orphans`); returns (attempt id, node, answer ms) of calls to follow again.

    - in flight, held by this controller but no longer followed (its end could not be
      written): its channel still up is followed again; gone, it is ``unknown``;
    - in flight with no node to ask (none, or one this controller does not know), or inbound
      (no channel is named by its id), older than STALE_MS: ``unknown``;
    - ``unknown`` with its channel not yet confirmed gone: confirmed when a successful
      CoreShowChannels of its node no longer lists it (once older than
      CHANNEL_APPEARS_MS), or past STALE_MS when no node can say
      (an inbound one at once: its call flow is over and the dialplan hangs up).

    *channels*: each node's live channels (None: the node cannot say now); *followed*: the
    attempt ids this controller follows.
    """
    adopt = []
    rows = s.execute(_SWEPT, {"me": controller_id, "followed": sorted(followed),
                              "nodes": sorted(channels)}).all()
    for attempt, record in rows:
        age = now_ms - _started_ms(attempt, record)
        inbound = record is not None and record.direction == "inbound"
        if attempt.node is None or inbound or attempt.node not in channels:
            if age > STALE_MS and _settle_unknown(s, attempt, record):
                log.warning("attempt %s: in flight for %d min with no node to ask: unknown",
                            attempt.id, age // 60_000)
            continue
        if attempt.controller != controller_id or attempt.id in followed \
                or age < UNFOLLOWED_GRACE_MS:
            continue
        live = channels.get(attempt.node)
        if live is None:
            continue                # the node cannot tell us now: try again later
        if attempt.id in live:
            answer_ms = record.answer_ms if record is not None else None
            if answer_ms is None and live[attempt.id] == "Up":
                answer_ms = record.originate_ms if record is not None else now_ms
            adopt.append((attempt.id, attempt.node, answer_ms))
        elif _settle_logged(s, attempt, record, facts):
            continue
        elif _settle_unknown(s, attempt, record):
            log.warning("attempt %s: its end was never recorded and its channel is gone: "
                        "unknown", attempt.id)
    unconfirmed = s.execute(select(CallAttempt, CallRecord).outerjoin(CallRecord)
                            .where(CallAttempt.state == AttemptState.UNKNOWN,
                                   CallAttempt.channel_gone_ms.is_(None))).all()
    for attempt, record in unconfirmed:
        if record is not None and record.direction == "inbound":
            gone = True     # no channel bears its id; its call flow is over, the dialplan hangs up
        else:
            # Listed channels were read before this transaction: a call younger than the
            # grace may not have its channel yet (an Originate answered late).
            age = now_ms - _started_ms(attempt, record)
            live = channels.get(attempt.node or "")
            gone = (live is not None and attempt.id not in live and age > CHANNEL_APPEARS_MS) \
                or age > STALE_MS
        if gone:
            attempt.channel_gone_ms = now_ms
    return adopt


def _settle_logged(s, attempt: CallAttempt, record: CallRecord | None,
                   facts: FactsOf | None) -> bool:
    """Settle a call no one follows from what its node logged of it, when it logged its end."""
    logged = facts(attempt.node, attempt.id) if facts is not None and attempt.node else None
    return logged is not None and settle_from_facts(s, attempt, record, logged)


def _settle_unknown(s, attempt: CallAttempt, record: CallRecord | None) -> bool:
    # Only if its controller is still the one seen: another may have adopted it meanwhile.
    if not transition(s, attempt.id, AttemptState.UNKNOWN, controller=attempt.controller):
        return False
    if record is not None and record.outcome is None:
        record.outcome = AttemptState.UNKNOWN.value
    return True


def _started_ms(attempt: CallAttempt, record: CallRecord | None) -> int:
    """When the attempt's call began: its originate (or, inbound, its answer), else the row's
    creation."""
    if record is not None and (record.originate_ms or record.answer_ms):
        return record.originate_ms or record.answer_ms
    created = attempt.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return int(created.timestamp() * 1000)
