"""An opt-out pressed while the dialplan played a call alone (its controller dead, issue 14):
Asterisk logs it (CEL ``sc-optout``), and the controller that settles the call from that log
stores it through the same journal and suppression store as a live opt-out, the number
refused by the dialer from the moment it is read, and the call's record shows it."""
import asyncio
import json

from sqlalchemy import select

from sc_asterisk.callflow.optouts import OptOutJournal, OptOuts
from sc_asterisk.callflow.reconstruct import reconstruct
from sc_asterisk.cel import CallFacts, SegmentMark, apply_line
from sc_asterisk.contacts import SuppressionStore
from sc_asterisk.contacts.suppression import dial_check
from sc_asterisk.db import AudioAsset, CallAttempt, CallRecord, Contact
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.rebuild import journaling
from sc_asterisk.dialer.reconcile import take_orphans
from sc_asterisk.dialer.states import AttemptState

KEY = "unit-test-installation-key"
NUMBER = "+33199000001"
NOW = 1_800_000_000_000
T = NOW - 50_000


def test_the_log_says_when_the_callee_opted_out_and_where():
    calls = {}
    apply_line(calls, json.dumps({"eventenum": "USER_DEFINED", "userdeftype": "sc-optout",
                                  "eventtime": f"{(T + 5000) / 1000:.6f}", "uniqueid": "a1",
                                  "eventextra": json.dumps({"extra": "9"})}))
    assert calls["a1"].optout_ms == T + 5000
    facts = CallFacts("a1", answer_ms=T, end_ms=T + 7000, cause=16, ended_by_us=True,
                      marks=[SegmentMark(T + 10, 0, T + 10), SegmentMark(T + 4010, 1, T + 4010)],
                      lost_ms=[T + 3000], alone_end_ms=T + 6900, optout_ms=T + 5000)
    played = reconstruct(facts, [("message", 4000), ("notice", 3000)])
    assert played.opted_out
    assert [(s.listened_ms, s.stop_reason) for s in played.segments] == [
        (4000, "end"), (990, "dtmf")]


def _orphan(db):
    with db.session() as s:
        for name, ms in (("m", 4000), ("n", 3000)):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=ms, source_filename="x",
                             data=b""))
        s.flush()
        c = create_campaign(s, "c", message="m", notice="n", compliance_profile="basic",
                            status="running", windows="always")
        contacts = [Contact(e164=n, time_zone="Europe/Paris") for n in (NUMBER, "+33199000002")]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, c, [x.id for x in contacts])
        ids = [a.id for a in s.scalars(select(CallAttempt).order_by(CallAttempt.number))]
        dead = s.get(CallAttempt, ids[0])
        dead.state, dead.controller, dead.node, dead.trunk = \
            AttemptState.ANSWERED, "dead", "n1", "lab"
        s.add(CallRecord(attempt_id=ids[0], originate_ms=NOW - 60_000))
    return ids


def test_an_optout_the_dialplan_logged_is_stored_like_a_live_one(db, tmp_path):
    ids = _orphan(db)
    journal = OptOutJournal(tmp_path / "journal")
    facts = CallFacts(ids[0], answer_ms=T, end_ms=T + 7000, cause=16, ended_by_us=True,
                      marks=[SegmentMark(T + 10, 0, T + 10)], lost_ms=[T + 1000],
                      alone_end_ms=T + 6900, optout_ms=T + 2000)

    async def main():
        worker = DbWorker(db)
        optouts = OptOuts(worker, KEY, journal)
        await optouts.replay()            # as at start (nothing left): storing may begin
        guarded = optouts.guard(dial_check(KEY))
        seen = []

        def cel(node, uid):
            with db.session() as s:
                seen.append(("before", guarded(s, s.get(CallAttempt, ids[0]))))
            return facts if uid == ids[0] else None

        journaled = journaling(cel, optouts.record_logged)

        def logged(node, uid):
            found = journaled(node, uid)
            # refused from the moment the log is read, before the call is settled
            with db.session() as s:
                seen.append(("read", guarded(s, s.get(CallAttempt, ids[0])),
                             s.get(CallAttempt, ids[0]).state))
            return found

        await worker.transaction(take_orphans, "c2", NOW - 10_000, {"n1": {}}, NOW, logged)
        assert seen == [("before", None), ("read", "suppressed", "answered")]
        assert journal.pending() == [ids[0]]       # durable before anything is stored
        with db.session() as s:
            assert guarded(s, s.get(CallAttempt, ids[1])) is None
        await optouts.close(grace_s=5)
        await worker.close()

    asyncio.run(main())
    assert journal.pending() == []
    with db.session() as s:
        assert SuppressionStore(s, KEY).is_suppressed(NUMBER) is not None
        assert SuppressionStore(s, KEY).is_suppressed("+33199000002") is None
        record = s.get(CallRecord, ids[0])
        assert record.opted_out and record.outcome == "answered"
        assert s.get(CallAttempt, ids[0]).state == "finished"
        assert [g.stop_reason for g in record.segments] == ["dtmf", "not_reached"]
