"""The attempt state machine on a real database: every allowed transition happens, every
other one (and one by the wrong controller) is refused and changes nothing."""
import itertools

import pytest

from sc_asterisk.db import CallAttempt, Campaign
from sc_asterisk.db.models import CallAttempt as AttemptModel
from sc_asterisk.dialer.states import (ATTEMPT_TRANSITIONS, CAMPAIGN_TRANSITIONS, AttemptState,
                                       CampaignStatus, allowed_from, campaign_may_become,
                                       transition)

A = AttemptState
PAIRS = list(itertools.product(AttemptState, AttemptState))
ALLOWED = [(a, b) for a, b in PAIRS if b in ATTEMPT_TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in PAIRS if b not in ATTEMPT_TRANSITIONS[a]]


@pytest.fixture
def attempt(db):
    """Make an attempt in a given state, held by controller "c1"; read it back."""
    with db.session() as s:
        campaign = Campaign(name="states")
        s.add(campaign)
        s.flush()
        campaign_id = campaign.id

    def make(state: AttemptState) -> str:
        with db.session() as s:
            row = CallAttempt(campaign_id=campaign_id, number="+33199000000", state=state,
                              controller="c1", node="n1")
            s.add(row)
            s.flush()
            return row.id

    def read(attempt_id: str) -> tuple:
        with db.session() as s:
            row = s.get(CallAttempt, attempt_id)
            return row.state, row.controller, row.node

    return make, read


def test_the_table_covers_every_state_and_pins_the_known_paths():
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptState)
    assert set(CAMPAIGN_TRANSITIONS) == set(CampaignStatus)
    # not vacuous: the paths the dialer takes are there, the dangerous ones are not
    for path in [(A.QUEUED, A.ORIGINATING), (A.QUEUED, A.SKIPPED), (A.QUEUED, A.CANCELLED),
                 (A.ORIGINATING, A.ANSWERED), (A.ORIGINATING, A.FINISHED),
                 (A.ORIGINATING, A.QUEUED), (A.ORIGINATING, A.FAILED),
                 (A.ORIGINATING, A.UNKNOWN), (A.ANSWERED, A.FINISHED), (A.ANSWERED, A.UNKNOWN)]:
        assert path in ALLOWED
    for path in [(A.ANSWERED, A.QUEUED), (A.UNKNOWN, A.QUEUED), (A.FINISHED, A.ORIGINATING),
                 (A.CANCELLED, A.ORIGINATING), (A.SKIPPED, A.QUEUED), (A.ORIGINATING, A.CANCELLED),
                 (A.QUEUED, A.FINISHED), (A.QUEUED, A.QUEUED)]:
        assert path in REFUSED
    assert len(ALLOWED) == 15 and len(REFUSED) == len(AttemptState) ** 2 - 15
    assert allowed_from(A.QUEUED) == (A.ORIGINATING,)      # only a never-sent call goes back


def test_the_model_defaults_are_the_first_states():
    assert AttemptModel.__table__.c.state.default.arg == AttemptState.QUEUED
    assert Campaign.__table__.c.status.default.arg == CampaignStatus.DRAFT


@pytest.mark.parametrize("start,to", ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_an_allowed_transition_happens(db, attempt, start, to):
    make, read = attempt
    attempt_id = make(start)
    with db.session() as s:
        assert transition(s, attempt_id, to, controller="c1", values={"node": "n2"}) is True
    assert read(attempt_id) == (to, "c1", "n2")


# every pair not in the table, by anyone; and every pair in it, by a controller not holding it
NOT_DONE = [(a, b, None) for a, b in REFUSED] + [(a, b, "c2") for a, b in ALLOWED]


@pytest.mark.parametrize("start,to,controller", NOT_DONE,
                         ids=[f"{a}->{b} by {c or 'anyone'}" for a, b, c in NOT_DONE])
def test_a_refused_transition_changes_nothing(db, attempt, start, to, controller):
    make, read = attempt
    attempt_id = make(start)
    with db.session() as s:
        assert transition(s, attempt_id, to, controller=controller, values={"node": "n2"}) is False
    assert read(attempt_id) == (start, "c1", "n1")


def test_an_unknown_attempt_is_refused(db):
    with db.session() as s:
        assert transition(s, "no-such-attempt", A.FINISHED) is False


def test_campaign_statuses():
    assert campaign_may_become("draft", CampaignStatus.RUNNING)
    assert campaign_may_become("paused", CampaignStatus.RUNNING)
    assert campaign_may_become("running", CampaignStatus.COMPLETED)
    assert not campaign_may_become("paused", CampaignStatus.COMPLETED)
    assert not campaign_may_become("completed", CampaignStatus.RUNNING)
    assert not campaign_may_become("cancelled", CampaignStatus.RUNNING)
    assert not campaign_may_become("draft", CampaignStatus.PAUSED)


def test_cancelling_a_campaign_cancels_only_what_was_not_dialed(db):
    from sc_asterisk.dialer.lifecycle import set_status
    from sc_asterisk.errors import ConfigError
    with db.session() as s:
        campaign = Campaign(name="stop-it", status="running")
        s.add(campaign)
        s.flush()
        for state in (A.QUEUED, A.QUEUED, A.ORIGINATING, A.FINISHED):
            s.add(CallAttempt(campaign_id=campaign.id, number="+33199000000", state=state))
    assert set_status(db, "stop-it", "cancelled") == CampaignStatus.CANCELLED
    with db.session() as s:
        assert sorted(a.state for a in s.query(CallAttempt)) == [
            A.CANCELLED, A.CANCELLED, A.FINISHED, A.ORIGINATING]
    with pytest.raises(ConfigError):
        set_status(db, "stop-it", "running")


def test_an_attempt_loaded_in_the_session_follows_its_transition(db, attempt):
    make, _read = attempt
    attempt_id = make(A.ORIGINATING)
    with db.session() as s:
        loaded = s.get(CallAttempt, attempt_id)
        assert transition(s, attempt_id, A.QUEUED, values={"node": None, "controller": None})
        assert (loaded.state, loaded.node, loaded.controller) == (A.QUEUED, None, None)
        assert not transition(s, attempt_id, A.FINISHED)
        assert loaded.state == A.QUEUED
