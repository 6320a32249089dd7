"""The controller's database thread: every read and write of a running controller goes through
one worker, in order, each as one short transaction, so a slow database never stalls the event
loop (Asterisk keeps playing the other calls meanwhile), and a database that is locked or away
for a while is waited for, not fatal."""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from sqlalchemy.exc import OperationalError
from .session import Database

log = logging.getLogger(__name__)
DB_RETRY_S = 60.0     # how long a locked or unreachable database is waited for
RETRY_PAUSE_S = 0.5

T = TypeVar("T")


class DbWorker:
    """Example::

        worker = DbWorker(db)
        n = await worker.transaction(lambda s: s.scalar(select(func.count(Campaign.id))))
        worker.submit(save, attempt_id)       # a write that must finish: awaited by close()
        await worker.close()
    """

    def __init__(self, db: Database, retry_s: float = DB_RETRY_S):
        self.db = db
        self.retry_s = retry_s
        # One thread: SQLite serialises writers anyway, and order is preserved.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self._writes: set[asyncio.Task] = set()
        # The urgent lane: its own thread (and connection), so an opt-out never waits behind
        # the calls' work in the FIFO above.
        self._urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-urgent")
        # Transactions asked for, by function name (a retry is not another one): what a call
        # costs the database is counted, not guessed (tests/lab/test_control_plane_lab.py).
        self.counts: Counter[str] = Counter()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run *fn* (which opens its own transaction) in the database thread; retried while the
        database raises OperationalError, up to the worker's retry time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        while True:
            try:
                return await loop.run_in_executor(self._executor, fn, *args)
            except OperationalError as exc:
                if loop.time() >= deadline:
                    raise
                log.warning("database unavailable (%s); retrying", type(exc.orig).__name__)
                await asyncio.sleep(RETRY_PAUSE_S)

    async def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in one transaction in the database thread: committed when
        it returns, rolled back when it raises (and retried as :meth:`run` says)."""
        self.counts[getattr(fn, "__name__", "?")] += 1
        return await self.run(self._in_transaction, fn, *args)

    async def urgent(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` once, in one transaction, on the urgent lane (a thread of
        its own, ahead of everything queued on the main one). The caller retries.

        Example: ``await worker.urgent(opt_out_in, attempt_id, key)``
        """
        self.counts[getattr(fn, "__name__", "?")] += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._urgent, self._in_transaction, fn, *args)

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Task:
        """Start ``fn(session, *args)`` as :meth:`transaction` does, as a task that
        :meth:`close` waits for: for writes that must finish even if nobody awaits them."""
        task = asyncio.create_task(self.transaction(fn, *args))
        self._writes.add(task)
        task.add_done_callback(self._settled)
        return task

    async def close(self) -> None:
        """Wait for the submitted writes, then stop the thread."""
        await asyncio.gather(*self._writes, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self._urgent.shutdown(wait=False, cancel_futures=True)

    def _in_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        # A writer's transaction: on SQLite it holds the write lock from its first read, so
        # two controllers on one file never act on the same row read twice (finding 7).
        with self.db.session(writer=True) as s:
            return fn(s, *args)

    def _settled(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a database write failed: %s", task.exception())
