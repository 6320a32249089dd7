"""A claim reads its next attempts from an index, in order, without sorting the queue: its cost
must not grow with the number of queued attempts (issue 15, goal 4: claim latency flat from 10 k
to 5 M queued). The load-peer rehearsal found each claim sorting every queued attempt of the
campaign (147 ms at 50,000 queued on PostgreSQL). The statements a real claim runs are captured
and their plans asked of the database (SQLite; PostgreSQL too when SC_ASTERISK_TEST_PG is set)."""
from sqlalchemy import event, insert, select, text

from sc_asterisk.db import AudioAsset, CallAttempt, Contact, Database
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.dialer.claim import Claim, NodeSlot, claim_next
from sc_asterisk.dialer.retries import NO_RETRY

from test_two_controllers import any_db as db  # noqa: F401 (SQLite, and PostgreSQL when set)

QUEUED = 20_000


def _queue(db: Database) -> int:
    with db.session() as s:
        for name in ("m", "n"):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000,
                             source_filename="x", data=b""))
        s.flush()
        campaign = create_campaign(s, "plan", message="m", notice="n", windows="always",
                                   status="running", compliance_profile="basic",
                                   retry_policy=NO_RETRY, cps=1000.0, max_channels=100)
        s.execute(insert(Contact), [{"e164": f"+33199{i:06d}", "time_zone": "Europe/Paris"}
                                    for i in range(QUEUED)])
        ids = s.scalars(select(Contact.id).order_by(Contact.id)).all()
        s.execute(insert(CallAttempt), [{"campaign_id": campaign.id, "contact_id": cid,
                                         "number": f"+33199{i:06d}", "trunk": "lab"}
                                        for i, cid in enumerate(ids)])
        return campaign.id


def _plan(conn, statement: str, params) -> str:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        return "\n".join(str(r[-1]) for r in rows)
    rows = conn.exec_driver_sql(f"EXPLAIN {statement}", params).all()
    return "\n".join(r[0] for r in rows)


def test_a_claim_reads_the_queue_in_index_order_without_sorting_it(db):
    campaign_id = _queue(db)
    if db.engine.dialect.name == "postgresql":
        with db.session() as s:
            s.execute(text("ANALYZE call_attempt"))
            s.execute(text("ANALYZE contact"))
    seen = []

    def capture(conn, cursor, statement, params, context, executemany):
        if "FROM call_attempt" in statement and "ORDER BY" in statement:
            seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.session() as s:
            claim = claim_next(s, campaign_id, [NodeSlot("n1", 100)], "c1")
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert isinstance(claim, Claim)
    with db.session() as s:
        plans = [_plan(s.connection(), st, p) for st, p in seen]
    assert plans, "the claim ran no ordered read of the queue"
    for plan in plans:
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
