"""Crashes and restarts through the real lab: kill -9 of the controller, Asterisk restarted,
two controllers on one PostgreSQL campaign, one of them frozen (its heartbeat stalled) while its
calls ring. Nobody may be dialed twice (SIPp counts)."""
import asyncio
import os
import signal
import socket
import urllib.request
from collections import Counter

import pytest
from sqlalchemy import text

from campaigns import attempts, campaign_status, make_campaign, numbers, plan_for, wait_until
from harness import kill_9, serve_process, serving, wait_sync
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.lab.sipp import Simulator


def test_kill_9_mid_campaign_then_restart(lab, db, prompts, tmp_path):
    nums = numbers(30, 200)
    make_campaign(db, prompts, "crash", nums, max_channels=40, cps=20, ring_timeout_s=5)
    set_status(db, "crash", "running")
    log = open(tmp_path / "serve.log", "wb")
    with Simulator(plan_for(nums, ring_ms=50, hold_ms=1200), lab.ports.callees, tmp_path) as sim:
        first = serve_process(db.url, lab, log)
        wait_sync(lambda: len(sim.invites()) >= 60, 30)
        kill_9(first)
        metrics_port = free_port()
        second = serve_process(db.url, lab, log, metrics_port=metrics_port)
        wait_sync(lambda: campaign_status(db, "crash") == "completed", 120)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=40) == 0
        invited = Counter(n for _ms, n in sim.invites())
        answered = {t.number for t in sim.truth() if t.outcome == "answered"}
    rows = attempts(db, "crash")
    assert max(invited.values()) == 1                          # nobody dialed twice
    assert len(rows) == 200 and len({r[0] for r in rows}) == 200   # one attempt per number
    states = Counter(r[1] for r in rows)
    assert set(states) <= {"finished", "unknown"} and states["unknown"] <= 40
    by_number = {r[0].lstrip("+"): r for r in rows}
    for number in answered:                                   # one record each, never lost
        assert by_number[number][2] in ("answered", "unknown")
    never_invited = {r[0].lstrip("+") for r in rows} - set(invited)
    assert all(by_number[n][1] == "unknown" for n in never_invited)
    # the restarted controller's metrics: what it dialed, and its AMI link up
    answered_by_second = metric(metrics, 'sc_call_outcomes_total{outcome="answered"}')
    assert 0 < answered_by_second <= 200 - 60
    assert metric(metrics, 'sc_ami_connected{node="lab-' + lab.name + '"}') == 1
    assert metric(metrics, "sc_calls_in_flight") == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(text: str, name: str) -> float:
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith(name + " "))


def test_asterisk_restart_mid_campaign(lab, db, prompts, tmp_path):
    nums = numbers(31, 40)
    make_campaign(db, prompts, "restart", nums, max_channels=10, cps=10, ring_timeout_s=5)
    node = lab.node_info()

    async def go(sim):
        async with serving(db, node, "restart") as run:
            await wait_until(lambda: len(sim.invites()) >= 10, 20)
            await asyncio.to_thread(lab.down)
            await asyncio.to_thread(lab.up)
            await run.until_completed(60)
            await run.stop_dialing()
            return run.controller.links[node.name].ami.connections

    with Simulator(plan_for(nums, ring_ms=50, hold_ms=800), lab.ports.callees, tmp_path) as sim:
        connections = asyncio.run(go(sim))
        invited = Counter(n for _ms, n in sim.invites())
    assert connections >= 2                     # it reconnected by itself
    assert max(invited.values()) == 1           # no duplicate dial
    assert len(invited) >= 30                   # and it went on dialing after the restart
    assert {r[1] for r in attempts(db, "restart")} <= {"finished", "unknown", "failed"}


@pytest.mark.postgres
def test_two_controllers_on_postgresql_never_dial_twice(lab, pg_db, prompts, tmp_path):
    nums = numbers(32, 80)
    make_campaign(pg_db, prompts, "twins", nums, max_channels=30, cps=25, ring_timeout_s=5)
    log = open(tmp_path / "serve.log", "wb")
    url = pg_db.engine.url.render_as_string(hide_password=False)
    with Simulator(plan_for(nums, ring_ms=50, hold_ms=600), lab.ports.callees, tmp_path) as sim:
        procs = [serve_process(url, lab, log, agi_port=lab.ports.agi + i) for i in (0, 1)]
        # The campaign starts once both controllers are up (80 calls at 25 CPS take 3 s: a
        # controller that starts later than that has nothing left to dial).
        wait_sync(lambda: _leases(pg_db) == 2, 30)
        set_status(pg_db, "twins", "running")
        wait_sync(lambda: campaign_status(pg_db, "twins") == "completed", 90)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=40) for p in procs] == [0, 0]
        invited = Counter(n for _ms, n in sim.invites())
    with pg_db.session() as s:
        by_controller = Counter(s.execute(text(
            "SELECT controller FROM call_attempt WHERE state = 'finished'")).scalars())
    assert len(invited) == 80 and max(invited.values()) == 1
    # Both controllers claimed from the same campaign throughout; which one places each call is
    # not fixed: the campaign's one token bucket is the limit, and the controller that took the
    # last token learns first when the next one comes, so on an idle machine it may take them
    # all. That both can dial, and one takes over the other's calls, is shown by
    # test_two_controllers_with_a_stalled_heartbeat_dial_nobody_twice.
    assert sum(by_controller.values()) == 80
    assert Counter(r[2] for r in attempts(pg_db, "twins")) == {"answered": 80}


def _leases(db) -> int:
    with db.session() as s:
        return s.execute(text("SELECT count(*) FROM controller_lease")).scalar()


def _lease_of(db, pid: int) -> str | None:
    with db.session() as s:
        return s.execute(text("SELECT id FROM controller_lease WHERE pid = :pid"),
                         {"pid": pid}).scalar()


def _in_flight_of(db, controller: str) -> int:
    with db.session() as s:
        return s.execute(text(
            "SELECT count(*) FROM call_attempt WHERE controller = :c "
            "AND state IN ('originating', 'ringing', 'answered')"), {"c": controller}).scalar()


def _stale_for_ms(db, controller: str) -> int:
    """How old *controller*'s heartbeat is, on the database's clock."""
    with db.session() as s:
        return s.execute(text(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) - heartbeat_ms "
            "FROM controller_lease WHERE id = :c"), {"c": controller}).scalar()


@pytest.mark.postgres
def test_two_controllers_with_a_stalled_heartbeat_dial_nobody_twice(lab, pg_db, prompts, tmp_path):
    """Controller A dials; it is frozen (SIGSTOP: no heartbeat, no events, no writes) while its
    calls ring, for longer than the stale time; controller B adopts its live calls and closes
    the others as unknown; A wakes up (SIGCONT) and finds its calls are no longer its own. The
    production retry policy. SIPp's log is the truth: no number gets two INVITEs, and the
    campaign completes with both controllers alive. Every step waits on a condition."""
    nums = numbers(33, 40)
    make_campaign(pg_db, prompts, "stall", nums, max_channels=8, cps=8, ring_timeout_s=15,
                  retry_policy=None)
    set_status(pg_db, "stall", "running")
    log = open(tmp_path / "serve.log", "wb")
    url = pg_db.engine.url.render_as_string(hide_password=False)
    # Rings for 3 s: A always has calls ringing when it is frozen.
    with Simulator(plan_for(nums, ring_ms=3000, hold_ms=500), lab.ports.callees, tmp_path) as sim:
        a = serve_process(url, lab, log, agi_port=lab.ports.agi)
        a_id = wait_sync(lambda: _lease_of(pg_db, a.pid), 30)
        wait_sync(lambda: len(sim.invites()) >= 4 and _in_flight_of(pg_db, a_id) >= 2, 30)
        a.send_signal(signal.SIGSTOP)
        b = None
        try:
            frozen_with = _in_flight_of(pg_db, a_id)
            b = serve_process(url, lab, log, agi_port=lab.ports.agi + 1)
            # B takes over once A's heartbeat is stale (3 s, the database's clock): nothing
            # in flight is A's any more.
            wait_sync(lambda: _stale_for_ms(pg_db, a_id) > 3000
                      and _in_flight_of(pg_db, a_id) == 0, 60)
            stalled_ms = _stale_for_ms(pg_db, a_id)
        finally:
            a.send_signal(signal.SIGCONT)
        wait_sync(lambda: campaign_status(pg_db, "stall") == "completed", 120)
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=60) for p in (a, b)] == [0, 0]
        invited = Counter(n for _ms, n in sim.invites())
    rows = attempts(pg_db, "stall")
    said = (tmp_path / "serve.log").read_text(errors="replace")
    assert frozen_with >= 2 and stalled_ms > 3000
    assert "re-adopted from a dead controller" in said             # B took A's live calls
    assert "is no longer held by this controller" in said          # A's late ends refused
    assert max(invited.values()) == 1, invited.most_common(3)       # nobody dialed twice
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40     # one attempt each, no retry
    assert {r[1] for r in rows} <= {"finished", "unknown"}
    assert Counter(r[1] for r in rows)["unknown"] <= frozen_with   # only A's frozen calls
    assert len(invited) >= 40 - frozen_with                        # the rest were dialed


def _in_flight_ids(db, controller: str) -> set[str]:
    with db.session() as s:
        return set(s.execute(text(
            "SELECT id FROM call_attempt WHERE controller = :c "
            "AND state IN ('originating', 'ringing', 'answered')"), {"c": controller}).scalars())


def _taken_from(db, controller: str, ids: set[str]) -> list[tuple[str, str]]:
    """(controller, state) of those of *ids* another controller adopted or closed."""
    with db.session() as s:
        rows = s.execute(text("SELECT id, controller, state FROM call_attempt"
                              " WHERE id = ANY(:ids)"), {"ids": sorted(ids)}).all()
    return [(c, state) for _id, c, state in rows if c != controller or state == "unknown"]


def _waiting_on_a_lock_ms(db) -> int:
    """How long a session of the database has been waiting for a row lock (0: none waits)."""
    with db.session() as s:
        return s.execute(text(
            "SELECT COALESCE(MAX(CAST(EXTRACT(EPOCH FROM clock_timestamp() - state_change) "
            "* 1000 AS BIGINT)), 0) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar()


@pytest.mark.postgres
def test_a_controller_whose_database_worker_is_stalled_keeps_its_calls(
        lab, pg_db, prompts, tmp_path):
    """Controller A's database worker waits 7 s on a row lock (one of its calls' rows, held by
    the test), more than twice the stale time; B dials beside it. On main A's heartbeat waited
    in that worker's queue: B took A for dead and adopted or closed its live calls. Now A's
    heartbeat has its own thread and connection: B takes nothing; the campaign completes and
    nobody is dialed twice (SIPp's log). Production retry policy."""
    nums = numbers(34, 30)
    make_campaign(pg_db, prompts, "held", nums, max_channels=8, cps=8, ring_timeout_s=15,
                  retry_policy=None)
    set_status(pg_db, "held", "running")
    log = open(tmp_path / "serve.log", "wb")
    url = pg_db.engine.url.render_as_string(hide_password=False)
    with Simulator(plan_for(nums, ring_ms=3000, hold_ms=500), lab.ports.callees, tmp_path) as sim:
        a = serve_process(url, lab, log, agi_port=lab.ports.agi)
        a_id = wait_sync(lambda: _lease_of(pg_db, a.pid), 30)
        wait_sync(lambda: _in_flight_of(pg_db, a_id) >= 2, 30)
        b = serve_process(url, lab, log, agi_port=lab.ports.agi + 1)
        wait_sync(lambda: _lease_of(pg_db, b.pid), 30)
        with pg_db.engine.connect() as holder:
            # One of A's calls: its end (or answer) cannot be written until the lock goes, and
            # every later job of A's worker waits behind it.
            held = holder.execute(text(
                "SELECT id FROM call_attempt WHERE controller = :c AND state IN "
                "('originating', 'ringing') LIMIT 1 FOR UPDATE"), {"c": a_id}).scalar()
            assert held is not None
            theirs = _in_flight_ids(pg_db, a_id)
            wait_sync(lambda: _waiting_on_a_lock_ms(pg_db) > 7000, 60)
            beat_age_ms = _stale_for_ms(pg_db, a_id)
            taken = _taken_from(pg_db, a_id, theirs - {held})
            holder.rollback()
        wait_sync(lambda: campaign_status(pg_db, "held") == "completed", 120)
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=60) for p in (a, b)] == [0, 0]
        invited = Counter(n for _ms, n in sim.invites())
    said = (tmp_path / "serve.log").read_text(errors="replace")
    assert beat_age_ms < 3000                                 # A beat on while its worker waited
    assert len(theirs) >= 2 and taken == []                  # nothing was taken from A
    assert "re-adopted from a dead controller" not in said
    assert "controller died mid-call" not in said
    assert max(invited.values()) == 1 and len(invited) == 30  # everyone once
    rows = attempts(pg_db, "held")
    assert len(rows) == 30 and {r[1] for r in rows} == {"finished"}
