"""The attempt state machine and the campaign statuses: the states as enums, the allowed
transitions as data, and the one function that moves an attempt from state to state.

An attempt changes state only through :func:`transition`, a conditional UPDATE that says
whether it happened: a controller that lost an attempt to another one (or an operator's cancel)
cannot overwrite what happened meanwhile.

This module imports nothing of the package but the models, so ``db/`` queries may filter on
these states without an import circle. (``db/models.py`` sits below it and spells its two
column defaults as plain text; a unit test pins them to the enums.)
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, Mapping

from functools import lru_cache

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..db.models import CallAttempt


class AttemptState(StrEnum):
    QUEUED = "queued"              # waiting for its turn (and its calling window)
    ORIGINATING = "originating"    # claimed by a controller, the Originate sent or about to be
    RINGING = "ringing"
    ANSWERED = "answered"          # the callee picked up (recorded at once: never redialed)
    FINISHED = "finished"          # hung up, the call record written
    FAILED = "failed"              # Asterisk refused the Originate: nothing was dialed
    UNKNOWN = "unknown"            # it may have rung: never redialed; holds its channel slot
                                   # until Asterisk says it is gone (channel_gone_ms)
    SKIPPED = "skipped"            # a last check refused it (suppressed, capped)
    CANCELLED = "cancelled"        # its campaign was cancelled or its person erased


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OriginateResult(StrEnum):
    """What sending an attempt's Originate came to (``CallTracker.originate``)."""
    SENT = "originating"           # accepted: the call is being placed
    REFUSED = "failed"             # Asterisk refused it: nothing was dialed
    UNKNOWN = "unknown"            # it may have left
    NOT_SENT = "not_sent"          # the link was down: nothing left


A = AttemptState
# From each state, the states an attempt may move to. A state absent from the values is only
# ever inserted (a new attempt is queued; an inbound call starts answered).
ATTEMPT_TRANSITIONS: Mapping[AttemptState, frozenset[AttemptState]] = {
    A.QUEUED: frozenset({A.ORIGINATING, A.SKIPPED, A.CANCELLED}),
    # back to QUEUED: proven never sent (the node's link was down), another node may take it
    A.ORIGINATING: frozenset({A.QUEUED, A.RINGING, A.ANSWERED, A.FINISHED, A.FAILED, A.UNKNOWN}),
    A.RINGING: frozenset({A.ANSWERED, A.FINISHED, A.FAILED, A.UNKNOWN}),
    A.ANSWERED: frozenset({A.FINISHED, A.UNKNOWN}),
    A.FINISHED: frozenset(),
    A.FAILED: frozenset(),
    A.UNKNOWN: frozenset(),
    A.SKIPPED: frozenset(),
    A.CANCELLED: frozenset(),
}

C = CampaignStatus
# Moving to the status it already has is allowed where an operator may repeat a command.
CAMPAIGN_TRANSITIONS: Mapping[CampaignStatus, frozenset[CampaignStatus]] = {
    C.DRAFT: frozenset({C.RUNNING, C.CANCELLED}),
    C.RUNNING: frozenset({C.RUNNING, C.PAUSED, C.COMPLETED, C.CANCELLED}),
    C.PAUSED: frozenset({C.RUNNING, C.PAUSED, C.CANCELLED}),
    C.COMPLETED: frozenset(),
    C.CANCELLED: frozenset({C.CANCELLED}),
}

# A controller is responsible for these: they hold a channel (or are about to).
INFLIGHT_STATES = (A.ORIGINATING, A.RINGING, A.ANSWERED)
# Not over yet: the campaign is not complete while one is left.
OPEN_STATES = (A.QUEUED,) + INFLIGHT_STATES


def allowed_from(to: AttemptState) -> tuple[AttemptState, ...]:
    """The states an attempt may be in to move to *to*.

    >>> allowed_from(AttemptState.CANCELLED)
    (<AttemptState.QUEUED: 'queued'>,)
    """
    return tuple(state for state, nexts in ATTEMPT_TRANSITIONS.items() if to in nexts)


def campaign_may_become(status: str, to: CampaignStatus) -> bool:
    """Whether a campaign in *status* may move to *to*.

    >>> campaign_may_become("paused", CampaignStatus.RUNNING)
    True
    """
    return to in CAMPAIGN_TRANSITIONS.get(CampaignStatus(status), frozenset())


@lru_cache(maxsize=None)
def _transition_stmt(to: AttemptState, held: bool):
    """The conditional UPDATE of :func:`transition`, built once per target state: a Core
    statement (no ORM bulk-update machinery) whose SET clause is the parameters' columns. It
    runs on every claim and every end of call, on the controller's one database thread."""
    row = CallAttempt.__table__.c
    stmt = update(CallAttempt.__table__).where(row.id == bindparam("t_id"),
                                               row.state.in_(allowed_from(to)))
    return stmt.where(row.controller == bindparam("t_controller")) if held else stmt


def transition(s: Session, attempt_id: str, to: AttemptState, *, controller: str | None = None,
               values: Mapping[str, Any] | None = None) -> bool:
    """Move one attempt to *to* if its state allows it (and, with *controller*, only if that
    controller holds it), setting *values* on the way. Returns whether it happened; a refused
    transition changes nothing.

    Example: ``transition(s, attempt_id, AttemptState.FINISHED, controller=me)``
    """
    changes = {"state": to, **(values or {})}
    params = {"t_id": attempt_id, **changes}
    if controller is not None:
        params["t_controller"] = controller
    happened = s.execute(_transition_stmt(to, controller is not None), params).rowcount == 1
    loaded = s.identity_map.get(identity_key(CallAttempt, attempt_id)) \
        if happened and s.identity_map else None
    if loaded is not None:        # an attempt already loaded in *s* stays in step with its row
        for key, value in changes.items():
            set_committed_value(loaded, key, value)
    return happened
