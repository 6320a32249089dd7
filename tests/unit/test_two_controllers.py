"""Several controllers on one database (issue 13, findings 3 and 7): one attempt is finished
once and retried once; adoption judges heartbeats on the database's clock and only one
controller wins an orphan; the heartbeat never waits behind the database worker; two claimers
on one SQLite file never claim the same attempt and never crash; buckets created by two at
once; a person never rung from two campaigns at once. Real databases (SQLite; PostgreSQL too
when SC_ASTERISK_TEST_PG is set), the production retry policy."""
import asyncio
import socket
import threading
import time

import pytest
from sqlalchemy import func, select, text, update

from sc_asterisk.config import Settings
from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, Campaign, Contact, Database
from sc_asterisk.db.dialer_queries import heartbeat, take_over
from sc_asterisk.db.models import ControllerLease
from sc_asterisk.db.models_telecom import Trunk
from sc_asterisk.db.session import db_now_ms
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.dialer.calls import Flight
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.claim import Claim, Done, NodeSlot, Wait, claim_next
from sc_asterisk.dialer.finish import finish_attempt
from sc_asterisk.dialer.reconcile import take_orphans
from sc_asterisk.dialer.states import AttemptState, OriginateResult
from sc_asterisk.keys import read_key
from sc_asterisk.nodes import NodeInfo
from sc_asterisk.service import Controller

from test_node_models import postgres_database

STALE_MS = 10_000
NODE = "n1"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request, tmp_path):
    """The same test on SQLite, and on PostgreSQL when SC_ASTERISK_TEST_PG is set."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'two.db'}")
        database.upgrade()
        yield database
        return
    with postgres_database() as url:
        database = Database(url)
        database.upgrade()
        yield database
        database.engine.dispose()


def _campaign(s, name="two", n=0, **settings) -> Campaign:
    """A running campaign (production retry policy) with *n* queued contacts."""
    if s.scalar(select(AudioAsset).where(AudioAsset.name == "m")) is None:
        for asset in ("m", "n"):
            s.add(AudioAsset(name=asset, sha256=asset * 64, duration_ms=1000,
                             source_filename="x", data=b""))
        s.flush()
    settings = {"max_channels": 1000, "cps": 10_000.0, **settings}
    campaign = create_campaign(s, name, message="m", notice="n", windows="always",
                               status="running", compliance_profile="basic", **settings)
    contacts = [Contact(e164=f"+3319950{i:04d}", time_zone="Europe/Paris")
                for i in range(n)]
    s.add_all(contacts)
    s.flush()
    queue_contacts(s, campaign, [c.id for c in contacts])
    return campaign


def _lease(s, lease_id, heartbeat_ms):
    s.add(ControllerLease(id=lease_id, host="h", pid=1, started_ms=0, heartbeat_ms=heartbeat_ms))


def _ringing(s, campaign, controller, number="+33199000000", originate_ms=None) -> str:
    attempt = CallAttempt(campaign_id=campaign.id, number=number, state=AttemptState.RINGING,
                          controller=controller, node=NODE, trunk="lab")
    s.add(attempt)
    s.flush()
    s.add(CallRecord(attempt_id=attempt.id,
                     originate_ms=originate_ms if originate_ms is not None else db_now_ms(s)))
    return attempt.id


def _count(db, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(CallAttempt).where(*where))


# -- finding 3: one finish, one retry ------------------------------------------------------------
def test_two_finishers_of_one_attempt_queue_exactly_one_retry(any_db):
    """A's heartbeat stopped long enough for B to adopt its ringing call; then both see the
    call end and both write it, at once: one end is recorded, one retry queued (busy: the
    default policy retries it)."""
    with any_db.session() as s:
        campaign = _campaign(s)
        _lease(s, "A", db_now_ms(s) - 3 * STALE_MS)          # stalled
        _lease(s, "B", db_now_ms(s))
        attempt_id = _ringing(s, campaign, "A")
    with any_db.session() as s:
        assert take_orphans(s, "B", STALE_MS, {NODE: {attempt_id: "Ringing"}}, db_now_ms(s)) == \
            [(attempt_id, NODE, None)]
    both = threading.Barrier(2)
    outcomes = {}

    def finish(controller):
        flight = Flight(Claim(attempt_id, "+33199000000", NODE, "lab", None, 30, 0))
        flight.cause, flight.end_ms, flight.end_seen = 17, 5, True     # busy, Hangup seen
        both.wait()
        with any_db.session(writer=True) as s:
            outcomes[controller] = finish_attempt(s, flight, OriginateResult.SENT, controller)

    threads = [threading.Thread(target=finish, args=(c,)) for c in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {"A": None, "B": "busy"}
    assert _count(any_db, CallAttempt.attempt_no == 2) == 1
    assert _count(any_db, CallAttempt.state == AttemptState.FINISHED) == 1


def test_a_controller_late_by_its_own_clock_but_not_the_database_s_is_not_adopted(
        any_db, monkeypatch):
    """A's host clock is 60 s behind: on main its heartbeat (its own clock) looked a minute
    old to B, which adopted or closed A's live calls. The beat and the judgement are the
    database's clock now."""
    with any_db.session() as s:
        campaign = _campaign(s)
        _lease(s, "A", 0)
        _lease(s, "B", 0)
        attempt_id = _ringing(s, campaign, "A")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 60)          # A's host clock
    with any_db.session() as s:
        heartbeat(s, "A")
    monkeypatch.setattr(time, "time", real)
    with any_db.session() as s:
        # its channel is not listed: on main, closed as unknown
        assert take_orphans(s, "B", STALE_MS, {NODE: {}}, db_now_ms(s)) == []
    with any_db.session() as s:
        attempt = s.get(CallAttempt, attempt_id)
        assert (attempt.state, attempt.controller) == (AttemptState.RINGING, "A")


def test_a_stale_controller_is_adopted_by_the_database_s_clock(any_db):
    with any_db.session() as s:
        campaign = _campaign(s)
        _lease(s, "A", db_now_ms(s) - STALE_MS - 1000)
        _lease(s, "B", db_now_ms(s))
        live, gone = _ringing(s, campaign, "A"), _ringing(s, campaign, "A", "+33199000001")
    with any_db.session() as s:
        assert take_orphans(s, "B", STALE_MS, {NODE: {live: "Up"}}, db_now_ms(s))[0][0] == live
    with any_db.session() as s:
        assert s.get(CallAttempt, live).controller == "B"
        assert s.get(CallAttempt, gone).state == AttemptState.UNKNOWN    # never redialed


def test_of_two_controllers_adopting_an_orphan_only_one_wins(any_db):
    """B and C both saw A's call orphaned; C's adoption, made after B's, changes nothing."""
    with any_db.session() as s:
        campaign = _campaign(s)
        _lease(s, "A", db_now_ms(s) - 3 * STALE_MS)
        for lease in ("B", "C"):
            _lease(s, lease, db_now_ms(s))
        attempt_id = _ringing(s, campaign, "A")
    with any_db.session() as s:
        assert take_over(s, attempt_id, "B", STALE_MS)
    with any_db.session() as s:
        assert not take_over(s, attempt_id, "C", STALE_MS)
        assert s.get(CallAttempt, attempt_id).controller == "B"


class QuietAmi:
    """An AMI link to a node with no channels (no Asterisk in unit tests)."""
    connected, connections = True, 1

    async def connect(self):
        pass

    async def live_channels(self):
        return {}

    def close(self):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_heartbeat_beats_while_the_database_worker_is_held(db, tmp_path):
    """On main the heartbeat was one more job in the worker's queue: a worker held for longer
    than the stale time (here by a job that waits) made a live controller look dead."""
    node = NodeInfo(NODE, "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, str(tmp_path),
                    str(tmp_path), "lab")

    def beat_ms():
        with db.session() as s:
            return s.scalar(select(ControllerLease.heartbeat_ms))

    async def main():
        controller = Controller(db, node, key=read_key(Settings.load()), agi_port=_free_port(),
                                stale_after_s=1.0, journal_dir=tmp_path / "journal")
        controller.links[NODE].ami = QuietAmi()
        await controller.start()
        held, release = threading.Event(), threading.Event()

        def hold():
            held.set()
            release.wait(30)

        holding = asyncio.ensure_future(controller.worker.run(hold))
        try:
            await asyncio.to_thread(held.wait, 5)
            first = beat_ms()
            deadline = time.monotonic() + 5 * controller.stale_after_ms / 1000
            while beat_ms() < first + controller.stale_after_ms and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return first, beat_ms(), holding.done()
        finally:
            release.set()
            await holding
            await controller.stop(drain_s=1)

    first, last, worker_free = asyncio.run(main())
    assert not worker_free                   # the worker was held the whole time...
    assert last >= first + 1000              # ...and the beat went on for a stale time


# -- finding 7: claims on one SQLite file, buckets, one person in two campaigns ----------------
def _claim_until_empty(url, cid, controller, claimed, errors, start):
    """One controller (its own Database and worker, as another process would have) claiming
    until nothing is left."""
    async def main():
        worker = DbWorker(Database(url))
        start.wait()
        try:
            while True:
                result = await worker.transaction(claim_next, cid, [NodeSlot(NODE, 1000)],
                                                  controller)
                if isinstance(result, Claim):
                    claimed.append((controller, result.attempt_id))
                elif isinstance(result, Done) or (isinstance(result, Wait)
                                                  and result.seconds is None):
                    return
        finally:
            await worker.close()
    try:
        asyncio.run(main())
    except Exception as exc:                 # noqa: BLE001 - the test reports it
        errors.append(exc)


def test_two_claimers_on_one_sqlite_file_never_claim_the_same_attempt(tmp_path):
    """pysqlite's deferred BEGIN let two claimers read the same queued attempt; the loser's
    error ended its dialing loop. Writers' transactions are BEGIN IMMEDIATE now."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        cid = _campaign(s, n=60).id
    claimed, errors, start = [], [], threading.Barrier(2)
    threads = [threading.Thread(target=_claim_until_empty,
                                args=(url, cid, name, claimed, errors, start))
               for name in ("c1", "c2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [attempt_id for _c, attempt_id in claimed]
    assert len(ids) == 60 and len(set(ids)) == 60           # each claimed once
    assert _count(db, CallAttempt.state == AttemptState.ORIGINATING) == 60
    with db.session() as s:
        by = dict(s.execute(select(CallAttempt.id, CallAttempt.controller)).all())
    assert all(by[attempt_id] == c for c, attempt_id in claimed)   # by the one that claimed


def test_buckets_created_by_two_claimers_at_once(any_db):
    """Two controllers claim the first calls of two campaigns on one paced trunk at once: the
    trunk's bucket is created by both (a UNIQUE violation on main, which ended a dialing
    loop). The second claim waits for the first's locks, then goes on."""
    with any_db.session() as s:
        s.add(Trunk(name="acme", host="192.0.2.10", username="u", secret_file="/x",
                    cps=1000.0, max_channels=100))
        cids = [_campaign(s, f"c{i}", n=0, trunk="acme").id for i in range(2)]
        for i, cid in enumerate(cids):
            contact = Contact(e164=f"+3319960{i:04d}", time_zone="Europe/Paris")
            s.add(contact)
            s.flush()
            queue_contacts(s, s.get(Campaign, cid), [contact.id])
    first = any_db.session(writer=True)
    s1 = first.__enter__()
    assert isinstance(claim_next(s1, cids[0], [NodeSlot(NODE, 10)], "c1"), Claim)
    s1.flush()
    results, errors = [], []

    def second():
        try:
            with any_db.session(writer=True) as s2:
                results.append(claim_next(s2, cids[1], [NodeSlot(NODE, 10)], "c2"))
        except Exception as exc:             # noqa: BLE001 - the test reports it
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    _until_waiting(any_db, thread)
    first.__exit__(None, None, None)
    thread.join()
    assert errors == [] and isinstance(results[0], Claim)


def _until_waiting(db, thread, timeout=10.0):
    """Until *thread* waits on the other transaction's locks (on SQLite it cannot but wait:
    the first transaction holds the file's write lock since its BEGIN)."""
    if db.engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        with db.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND wait_event_type = 'Lock'")).scalar():
                return
        time.sleep(0.02)
    assert thread.is_alive(), "the second claim did not wait for the first one's locks"


@pytest.mark.parametrize("other, age_ms, claimed", [
    (AttemptState.RINGING, 0, False),
    (AttemptState.ANSWERED, 0, False),
    (AttemptState.UNKNOWN, 10 * 60_000, False),      # it may still ring them
    (AttemptState.UNKNOWN, 2 * 3_600_000, True),     # over an hour ago: over
    (AttemptState.FINISHED, 0, True),
])
def test_a_number_in_flight_in_another_campaign_is_not_claimed(db, other, age_ms, claimed):
    with db.session() as s:
        first = _campaign(s, "first", n=1)
        number = s.scalar(select(CallAttempt.number))
        s.execute(update(CallAttempt).values(state=other, controller="c2", node=NODE))
        s.add(CallRecord(attempt_id=s.scalar(select(CallAttempt.id)),
                         originate_ms=db_now_ms(s) - age_ms))
        second = _campaign(s, "second")
        contact = s.scalar(select(Contact).where(Contact.e164 == number))
        queue_contacts(s, second, [contact.id])
        cid = second.id
        assert first.id != cid
    with db.session() as s:
        result = claim_next(s, cid, [NodeSlot(NODE, 10)], "c1")
    assert isinstance(result, Claim) is claimed
    if not claimed:
        assert isinstance(result, Wait)
        assert _count(db, CallAttempt.campaign_id == cid,
                      CallAttempt.state == AttemptState.QUEUED,
                      CallAttempt.not_before_ms > 0) == 1        # put back, not skipped


def test_a_claim_lost_to_another_controller_is_tried_again_not_the_end_of_the_loop(db, tmp_path):
    """On main the loser's IntegrityError (or an OperationalError past the worker's wait)
    ended the dialing loop, and `serve` with it."""
    from sqlalchemy.exc import IntegrityError
    from sc_asterisk.dialer.calls import CallTracker
    from sc_asterisk.dialer.scheduler import NodeLink, Scheduler

    with db.session() as s:
        cid = _campaign(s, "lost").id                  # nothing queued: completes at once
    node = NodeInfo(NODE, "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, str(tmp_path),
                    str(tmp_path), "lab")
    scheduler = Scheduler(DbWorker(db), CallTracker(), {NODE: NodeLink(node, QuietAmi())},
                          "c1", 4573)
    scheduler._published.add(cid)
    claims = []
    claim = scheduler._claim

    def lost_once(s, campaign_id, nodes, at):
        claims.append(campaign_id)
        if len(claims) == 1:
            raise IntegrityError("INSERT INTO pace_bucket", {}, Exception("UNIQUE"))
        return claim(s, campaign_id, nodes, at)

    scheduler._claim = lost_once

    async def main():
        await scheduler.run(only="lost", poll_s=0.01)
        await scheduler.worker.close()

    asyncio.run(main())
    assert claims == [cid, cid]
    with db.session() as s:
        assert s.get(Campaign, cid).status == "completed"


def test_a_call_claimed_by_a_controller_back_from_a_freeze_is_not_taken_for_an_orphan(any_db):
    """A was frozen past the stale time and B adopted its calls; A wakes up and claims before
    its heartbeat thread runs. On main B's next round saw that fresh claim held by a 'dead'
    controller, its channel not up yet, and closed it ``unknown`` as A dialed it."""
    with any_db.session() as s:
        cid = _campaign(s, n=1).id
        _lease(s, "A", db_now_ms(s) - 3 * STALE_MS)
        _lease(s, "B", db_now_ms(s))
    with any_db.session(writer=True) as s:
        claim = claim_next(s, cid, [NodeSlot(NODE, 10)], "A")
    assert isinstance(claim, Claim)
    with any_db.session() as s:
        assert take_orphans(s, "B", STALE_MS, {NODE: {}}, db_now_ms(s)) == []
    with any_db.session() as s:
        attempt = s.get(CallAttempt, claim.attempt_id)
        assert (attempt.state, attempt.controller) == (AttemptState.ORIGINATING, "A")


def test_an_adopted_call_answered_before_its_new_controller_followed_it_is_not_retried(any_db):
    """B adopted A's call while it rang; it was answered before B followed it (the answer
    event went to no one, A recorded the answer); it ended with normal clearing. On main B
    classified it ``failed``, and the default policy dials the person again 5 minutes after
    they heard the whole message."""
    with any_db.session() as s:
        campaign = _campaign(s)
        _lease(s, "A", db_now_ms(s) - 3 * STALE_MS)
        _lease(s, "B", db_now_ms(s))
        attempt_id = _ringing(s, campaign, "A")
    with any_db.session() as s:
        assert take_orphans(s, "B", STALE_MS, {NODE: {attempt_id: "Ringing"}}, db_now_ms(s))
    with any_db.session() as s:                         # A's answer, written as it woke up
        s.get(CallRecord, attempt_id).answer_ms = db_now_ms(s)
    flight = Flight(Claim(attempt_id, "", NODE, "", None, 0, 0))     # as B adopted it
    flight.cause, flight.end_ms, flight.end_seen = 16, db_now_ms_of(any_db), True
    with any_db.session(writer=True) as s:
        assert finish_attempt(s, flight, OriginateResult.SENT, "B") == "answered"
    assert _count(any_db) == 1                                        # no retry
    with any_db.session() as s:
        assert s.get(CallRecord, attempt_id).answer_ms is not None


def db_now_ms_of(db) -> int:
    with db.session() as s:
        return db_now_ms(s)
