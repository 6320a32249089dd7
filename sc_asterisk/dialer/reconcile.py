"""Reconciliation: attempts left in flight by a controller that died are matched with what
Asterisk still has. A live channel is re-adopted; anything else is marked ``unknown`` and is
never redialed automatically, because the person may have been rung."""
from __future__ import annotations

import logging

from ..ami import AmiClient
from ..db import CallRecord
from ..db.dialer_queries import orphaned_inflight
from ..errors import AmiError
from .states import AttemptState, transition

log = logging.getLogger(__name__)


async def live_channels(ami: AmiClient) -> dict[str, str] | None:
    """The node's channels: channel id (our attempt id) -> state ("Up", "Ringing"...), or None
    when the node cannot say."""
    try:
        return await ami.live_channels()
    except AmiError:
        return None


def take_orphans(s, controller_id: str, stale_before_ms: int,
                 channels: dict[str, dict[str, str] | None]) -> list[tuple[str, str, int | None]]:
    """Adopt or close every orphaned in-flight attempt. Returns (attempt id, node, answer ms or
    None) for the adopted ones, whose calls are still up on their node."""
    adopted = []
    for attempt in orphaned_inflight(s, controller_id, stale_before_ms):
        live = channels.get(attempt.node or "")
        if live is None:
            continue            # the node cannot tell us now: try again later
        if attempt.id in live:
            attempt.controller = controller_id
            record = s.get(CallRecord, attempt.id)
            answer_ms = record.answer_ms if record is not None else None
            if answer_ms is None and live[attempt.id] == "Up":
                answer_ms = record.originate_ms if record is not None else 0
            adopted.append((attempt.id, attempt.node, answer_ms))
            log.warning("attempt %s re-adopted from a dead controller", attempt.id)
            continue
        if not transition(s, attempt.id, AttemptState.UNKNOWN):
            continue
        record = s.get(CallRecord, attempt.id)
        if record is not None and record.outcome is None:
            record.outcome = AttemptState.UNKNOWN.value
        log.warning("attempt %s: controller died mid-call, fate unknown: not redialed", attempt.id)
    return adopted
