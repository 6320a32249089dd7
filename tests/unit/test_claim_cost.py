"""What a call costs the database, counted (issue 15; never timed: timings are benchmarks):
the statements of a claim, an answer and an end with its listens (the claim's plan, which must
not grow with the queue: test_claim_plan.py); and the dialing loop claims ahead, for
the instant its pacing token is due, the Originate never leaving before that instant."""
import asyncio
import time

from sqlalchemy import event, select

from sc_asterisk.callflow.player import PlayResult, SegmentResult
from sc_asterisk.callflow.store import _save_play
from sc_asterisk.contacts.suppression import dial_check
from sc_asterisk.db import CallAttempt, CallRecord, Campaign, Database
from sc_asterisk.db.models import ControllerLease
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.dialer.calls import CallTracker, Flight
from sc_asterisk.dialer.claim import Claim, NodeSlot, claim_next
from sc_asterisk.dialer.finish import finish_attempt
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.dialer.scheduler import CLAIM_LEAD_S, NodeLink, Scheduler
from sc_asterisk.dialer.states import OriginateResult
from sc_asterisk.nodes import NodeInfo
from sc_asterisk.service import _mark_answered

from test_two_controllers import QuietAmi, _campaign, any_db  # noqa: F401 (a fixture)

KEY = "k" * 32
# Statements of each step of one answered call (BEGIN included), as counted on SQLite: a
# change that brings back ORM units of work or another query per call fails here.
# The listens are written with the end (finish_attempt, 4 + 3); _save_play is the path of a
# call nobody here follows (inbound, resumed for another controller).
BUDGET = {"claim_next": 12, "_mark_answered": 3, "finish_attempt": 7, "_save_play": 4}


def _statements(db):
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: seen.append(sql))
    return seen


def test_one_call_costs_a_fixed_handful_of_statements(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'cost.db'}")
    db.upgrade()
    with db.session() as s:
        cid = _campaign(s, n=3).id
        s.add(ControllerLease(id="c1", host="h", pid=1, started_ms=0, heartbeat_ms=0))
    check, nodes = dial_check(KEY), [NodeSlot("n1", 10)]
    with db.session(writer=True) as s:
        assert isinstance(claim_next(s, cid, nodes, "c1", check), Claim)   # creates buckets
    seen = _statements(db)
    counts = {}

    def step(fn, *args):
        seen.clear()
        with db.session(writer=True) as s:
            result = fn(s, *args)
        counts[fn.__name__] = len(seen)
        return result

    claim = step(claim_next, cid, nodes, "c1", check)
    assert isinstance(claim, Claim)
    step(_mark_answered, "c1", claim.attempt_id, 1000)
    flight = Flight(claim, answered=True, answer_ms=1000, end_ms=3000, cause=16,
                    end_seen=True, flow_whole=True,
                    play=PlayResult([SegmentResult(0, "message", 1000, 1000, True, "end")],
                                    "callee"))
    assert step(finish_attempt, flight, OriginateResult.SENT, "c1", None) == "answered"
    step(_save_play, claim.attempt_id, flight.play)
    assert counts == BUDGET, counts
    with db.session() as s:         # and what they wrote is whole
        record = s.get(CallRecord, claim.attempt_id)
        assert (record.answer_ms, record.end_ms, record.outcome, record.hung_up_by) == \
            (1000, 3000, "answered", "callee")
        assert [seg.listened_ms for seg in record.segments] == [1000]


class _Timed(CallTracker):
    """Records when each Originate leaves; every call is answered and over at once."""

    def __init__(self):
        super().__init__()
        self.sent: dict[str, float] = {}

    async def originate(self, ami, flight, channel, agi_url):
        self.sent[flight.attempt_id] = time.time()
        flight.end_seen, flight.cause = True, 17          # busy: over at once, no retry rule
        flight.responded.set()
        flight.hung_up.set()
        return "originating"

    async def follow(self, flight):
        return None


def test_claims_are_made_ahead_for_their_token_s_instant_and_dialed_at_it(db, tmp_path):
    with db.session() as s:
        cid = _campaign(s, "ahead", n=8, cps=20.0, retry_policy=NO_RETRY).id
    node = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, str(tmp_path),
                    str(tmp_path), "lab")
    tracker = _Timed()
    instants: list[tuple[float, float]] = []       # (claimed for, claim started)

    async def main():
        worker = DbWorker(db)
        scheduler = Scheduler(worker, tracker, {"n1": NodeLink(node, QuietAmi())}, "c1", 1)
        scheduler._published.add(cid)                # its fake prompts are not published
        claim = scheduler._claim

        def timed(s, campaign_id, nodes, at):
            instants.append((at, time.time()))
            return claim(s, campaign_id, nodes, at)

        scheduler._claim = timed
        try:
            await asyncio.wait_for(scheduler.run(only="ahead", poll_s=0.05), 30)
            await scheduler.drain(10)
        finally:
            await worker.close()

    asyncio.run(main())
    with db.session() as s:
        claimed = dict(s.execute(select(CallRecord.attempt_id, CallRecord.originate_ms)
                                 .join(CallAttempt).where(CallAttempt.campaign_id == cid)).all())
    assert len(tracker.sent) == len(claimed) == 8
    # Each Originate waits for the instant its claim was made for (its originate_ms).
    assert all(tracker.sent[a] * 1000 >= claimed[a] for a in claimed)
    # Claims after the first are made before their instant (ahead, not when it is due), for
    # instants one pacing interval apart: the claim's round trip is out of the pace.
    ahead = [at - started for at, started in instants[1:8]]
    assert all(0 < lead <= CLAIM_LEAD_S + 0.001 for lead in ahead), ahead
    ats = sorted(claimed.values())
    assert all(abs((b - a) - 50) <= 1 for a, b in zip(ats, ats[1:])), ats
    with db.session() as s:
        assert s.get(Campaign, cid).status == "completed"


def test_migration_0012_goes_down_and_up_with_the_claim_index(any_db):  # noqa: F811
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from sc_asterisk.paths import MIGRATIONS_DIR

    def claim_index():
        return next(ix["column_names"] for ix in inspect(any_db.engine).get_indexes("call_attempt")
                    if ix["name"] == "ix_call_attempt_claim")

    assert claim_index() == ["campaign_id", "state", "not_before_ms", "created_at", "id"]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    for target, columns in (("0011_web_users", ["campaign_id", "state", "not_before_ms"]),
                            ("head", ["campaign_id", "state", "not_before_ms", "created_at",
                                      "id"])):
        with any_db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if target != "head" else command.upgrade)(cfg, target)
        assert claim_index() == columns
