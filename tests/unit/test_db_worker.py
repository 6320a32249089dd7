import asyncio
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from sc_asterisk.db import Campaign
from sc_asterisk.db import worker as worker_module
from sc_asterisk.db.worker import DbWorker


def _count(s) -> int:
    return s.scalar(select(func.count(Campaign.id)))


def test_work_runs_in_order_on_one_thread(db):
    worker = DbWorker(db)
    seen = []

    def note(s, i):
        seen.append((i, threading.current_thread().name))

    async def main():
        await asyncio.gather(*(worker.transaction(note, i) for i in range(20)))
        await worker.close()

    asyncio.run(main())
    assert [i for i, _ in seen] == list(range(20))
    assert len({name for _, name in seen}) == 1 and seen[0][1] != threading.current_thread().name


def test_a_transaction_commits_or_rolls_back_as_a_whole(db):
    worker = DbWorker(db)

    def add(s, name, fail):
        s.add(Campaign(name=name))
        s.flush()
        if fail:
            raise ValueError("boom")

    async def main():
        await worker.transaction(add, "kept", False)
        with pytest.raises(ValueError):
            await worker.transaction(add, "dropped", True)
        names = await worker.transaction(lambda s: sorted(s.scalars(select(Campaign.name))))
        await worker.close()
        return names

    assert asyncio.run(main()) == ["kept"]


def test_a_database_away_for_a_while_is_waited_for(db, monkeypatch):
    monkeypatch.setattr(worker_module, "RETRY_PAUSE_S", 0.01)
    worker = DbWorker(db)
    failures = [OperationalError("SELECT", {}, Exception("locked"))] * 3

    def flaky(s):
        if failures:
            raise failures.pop()
        return _count(s)

    async def main():
        result = await worker.transaction(flaky)
        await worker.close()
        return result

    assert asyncio.run(main()) == 0 and not failures


def test_a_database_away_too_long_is_an_error(db, monkeypatch):
    monkeypatch.setattr(worker_module, "RETRY_PAUSE_S", 0.01)
    worker = DbWorker(db, retry_s=0.05)
    calls = []

    def away(s):
        calls.append(1)
        raise OperationalError("SELECT", {}, Exception("unreachable"))

    async def main():
        try:
            with pytest.raises(OperationalError):
                await worker.transaction(away)
        finally:
            await worker.close()

    asyncio.run(main())
    assert len(calls) > 1


def test_close_waits_for_submitted_writes(db):
    worker = DbWorker(db)

    def slow_add(s):
        import time
        time.sleep(0.2)
        s.add(Campaign(name="late"))

    async def main():
        worker.submit(slow_add)          # nobody awaits it: close() must
        await worker.close()

    asyncio.run(main())
    with db.session() as s:
        assert _count(s) == 1
