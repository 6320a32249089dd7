"""A DTMF opt-out cannot be lost: journaled (fsync'd) before the confirmation prompt plays,
stored on the worker's own lane whatever the main lane is doing, retried until stored (locked
database, concurrent add), replayed by the next controller when this one stops first, and the
call's measurements are saved even when the opt-out write keeps failing. A fake Asterisk
(plain socket client) drives the real FastAGI server; assertions run on the client side or
after the session."""
import asyncio
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from sc_asterisk.agi import AgiServer
from sc_asterisk.callflow import optouts as optouts_module
from sc_asterisk.callflow.broadcast import play_and_record
from sc_asterisk.callflow.optouts import OptOutJournal, OptOuts
from sc_asterisk.callflow.player import Script, Segment
from sc_asterisk.callflow.store import CallStore, opt_out_in
from sc_asterisk.contacts import SuppressionStore
from sc_asterisk.contacts.suppression import dial_check
from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, Contact, SegmentListen
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts

KEY = "unit-test-installation-key"
NUMBER = "+33199000001"
SCRIPT = Script((Segment("message", "/snd/msg", 4000), Segment("notice", "/snd/n", 3000)),
                optout_digit="9", optout_confirm="/snd/confirm")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(optouts_module, "RETRY_PAUSE_S", 0.01)
    monkeypatch.setattr(optouts_module, "MAX_PAUSE_S", 0.05)


def _attempts(db, numbers=(NUMBER,)):
    with db.session() as s:
        for name in ("m", "n"):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000, source_filename="x",
                             data=b""))
        s.flush()
        c = create_campaign(s, "c", message="m", notice="n", compliance_profile="basic")
        contacts = [Contact(e164=n, time_zone="Europe/Paris") for n in numbers]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, c, [x.id for x in contacts])
        ids = [a.id for a in s.scalars(select(CallAttempt).order_by(CallAttempt.number))]
        for i in ids:
            s.add(CallRecord(attempt_id=i))
    return ids


def _suppressed(db, number=NUMBER):
    with db.session() as s:
        return SuppressionStore(s, KEY).is_suppressed(number)


async def _caller(port, on_confirm=None):
    """A callee who presses 9 during the message and listens to the confirmation; returns
    the commands received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"agi_network: yes\nagi_network_script: broadcast\nagi_uniqueid: x\n\n")
    commands = []
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            break
        command = line.decode().strip()
        commands.append(command)
        if command.startswith('STREAM FILE "/snd/confirm"') and on_confirm is not None:
            on_confirm()
        if command.startswith('STREAM FILE "/snd/msg"'):
            writer.write(b"200 result=57 endpos=12000\n")
        else:
            writer.write(b"200 result=0 endpos=8000\n")
        await writer.drain()
    writer.close()
    return commands


async def _serving(worker, optouts, attempt_id) -> AgiServer:
    store = CallStore(worker)

    async def handler(session):
        await play_and_record(session, store, optouts, attempt_id, SCRIPT)

    server = AgiServer({"broadcast": handler}, port=0)
    await server.start()
    return server


async def _one_call(db, worker, optouts, attempt_id, on_confirm=None):
    server = await _serving(worker, optouts, attempt_id)
    commands = await _caller(server.port, on_confirm)
    await server.stop(grace=5)
    return commands


def test_the_optout_is_journaled_before_the_confirmation_plays(db, tmp_path, monkeypatch):
    (attempt,) = _attempts(db)
    journal = OptOutJournal(tmp_path / "journal")
    database_refuses = [True]
    seen_at_confirm = []

    def until_released(s, attempt_id, key):
        if database_refuses[0]:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return opt_out_in(s, attempt_id, key)

    monkeypatch.setattr(optouts_module, "opt_out_in", until_released)

    async def main():
        worker = DbWorker(db)
        optouts = OptOuts(worker, KEY, journal)
        commands = await _one_call(db, worker, optouts, attempt,
                                   lambda: seen_at_confirm.append(journal.pending()))
        stored_during_call = _suppressed(db)
        database_refuses[0] = False
        await asyncio.wait_for(_until(lambda: not journal.pending()), 10)
        await worker.close()
        return commands, stored_during_call

    commands, stored_during_call = asyncio.run(main())
    assert commands[1] == 'STREAM FILE "/snd/confirm" ""'
    assert seen_at_confirm == [[attempt]]          # durable before the confirmation played
    assert stored_during_call is None              # while the database refused it
    assert _suppressed(db) == "opt-out"            # then stored, and the entry removed


def test_the_optout_is_stored_while_the_main_lane_is_busy(db, tmp_path):
    (attempt,) = _attempts(db)
    journal = OptOutJournal(tmp_path / "journal")
    held, release = threading.Event(), threading.Event()

    def busy(s):           # a long piece of work at the head of the main (FIFO) lane
        held.set()
        release.wait(20)

    async def main():
        worker = DbWorker(db)
        optouts = OptOuts(worker, KEY, journal)
        blocker = asyncio.ensure_future(worker.transaction(busy))
        await asyncio.to_thread(held.wait, 5)
        calls = asyncio.ensure_future(_one_call(db, worker, optouts, attempt))
        try:
            # stored while the main lane is still held: the opt-out does not queue behind it
            await asyncio.wait_for(_until(lambda: _suppressed(db) == "opt-out"), 10)
        finally:
            release.set()
        await calls
        await blocker
        await optouts.close()
        await worker.close()

    asyncio.run(main())
    assert journal.pending() == []                 # stored: the entry is gone
    with db.session() as s:
        assert s.get(CallRecord, attempt).opted_out


def test_an_optout_outlasts_a_database_away_longer_than_the_worker_bound_and_a_concurrent_add(
        db, tmp_path, monkeypatch):
    (attempt,) = _attempts(db)
    journal = OptOutJournal(tmp_path / "journal")
    failures = ["locked"] * 30 + ["concurrent add"]
    real = opt_out_in

    def flaky(s, attempt_id, key):
        if failures:
            what = failures.pop(0)
            if what == "locked":
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            # someone suppresses the number between our check and our insert: the UNIQUE
            # index refuses ours (IntegrityError), the retry finds theirs
            with db.session() as other:
                SuppressionStore(other, key).add(NUMBER, "objection", "cli:test")
            saved = SuppressionStore.is_suppressed, SuppressionStore.entry
            SuppressionStore.is_suppressed = SuppressionStore.entry = lambda self, n: None
            try:
                return real(s, attempt_id, key)
            finally:
                SuppressionStore.is_suppressed, SuppressionStore.entry = saved
        return real(s, attempt_id, key)

    monkeypatch.setattr(optouts_module, "opt_out_in", flaky)

    async def main():
        worker = DbWorker(db, retry_s=0.05)     # the main lane would give up long before
        optouts = OptOuts(worker, KEY, journal)
        await _one_call(db, worker, optouts, attempt)
        await asyncio.wait_for(_until(lambda: not journal.pending()), 10)
        await worker.close()

    asyncio.run(main())
    assert failures == []
    assert _suppressed(db) == "objection"          # theirs, kept: the opt-out is satisfied
    with db.session() as s:
        assert s.get(CallRecord, attempt).opted_out


def test_a_controller_stopped_right_after_the_digit_leaves_it_to_the_next_one(
        db, tmp_path, monkeypatch):
    """SIGTERM mid-store: the session is cancelled and the controller closes while the
    database refuses the write; the next controller on the same home stores it at start, and
    until it is stored the dialer's last check refuses the number."""
    ids = _attempts(db, (NUMBER, "+33199000002"))
    journal = OptOutJournal(tmp_path / "journal")
    monkeypatch.setattr(optouts_module, "opt_out_in", _always_locked)

    async def first_controller():
        worker = DbWorker(db)
        optouts = OptOuts(worker, KEY, journal)
        server = await _serving(worker, optouts, ids[0])
        call = asyncio.ensure_future(_caller(server.port))
        await asyncio.wait_for(_until(lambda: journal.pending() == [ids[0]]), 10)
        await server.stop(grace=0)                  # the shutdown cancels the call flow
        await asyncio.gather(call, return_exceptions=True)
        with db.session() as s:                     # meanwhile, the number is never dialed
            guarded = optouts.guard(dial_check(KEY))
            assert guarded(s, s.get(CallAttempt, ids[0])) == "suppressed"
            assert guarded(s, s.get(CallAttempt, ids[1])) is None
        await optouts.close(grace_s=0.2)
        await worker.close()

    asyncio.run(first_controller())
    assert journal.pending() == [ids[0]] and _suppressed(db) is None
    monkeypatch.setattr(optouts_module, "opt_out_in", opt_out_in)

    async def next_controller():
        worker = DbWorker(db)
        stored = await OptOuts(worker, KEY, journal).replay()
        await worker.close()
        return stored

    assert asyncio.run(next_controller()) == 1
    assert _suppressed(db) == "opt-out" and journal.pending() == []


def test_the_call_is_measured_even_when_the_optout_write_keeps_failing(db, tmp_path, monkeypatch):
    (attempt,) = _attempts(db)
    journal = OptOutJournal(tmp_path / "journal")
    monkeypatch.setattr(optouts_module, "opt_out_in", _always_locked)

    async def main():
        worker = DbWorker(db)
        optouts = OptOuts(worker, KEY, journal)
        commands = await _one_call(db, worker, optouts, attempt)
        await optouts.close(grace_s=0.1)
        await worker.close()
        return commands

    commands = asyncio.run(main())
    assert commands[-1] == "HANGUP"
    with db.session() as s:
        listens = {sl.role: sl for sl in s.scalars(select(SegmentListen))}
        assert s.get(CallRecord, attempt).opted_out
    assert listens["message"].stop_reason == "dtmf" and listens["message"].listened_ms == 1500
    assert journal.pending() == [attempt]          # kept for the next start


def test_an_optout_from_a_withheld_number_is_recorded_and_never_retried(db):
    (attempt,) = _attempts(db)
    with db.session() as s:
        s.get(CallAttempt, attempt).number = "anonymous"     # an inbound call, number withheld
    with db.session() as s:
        assert opt_out_in(s, attempt, KEY) == "no-number"
    with db.session() as s:
        assert s.get(CallRecord, attempt).opted_out
        assert opt_out_in(s, "no-such-attempt", KEY) == "no-attempt"


def _always_locked(s, attempt_id, key):
    raise OperationalError("INSERT", {}, Exception("database is locked"))


async def _until(predicate, poll_s=0.01):
    while not await asyncio.to_thread(predicate):
        await asyncio.sleep(poll_s)

