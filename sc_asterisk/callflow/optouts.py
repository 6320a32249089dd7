"""DTMF opt-outs that cannot be lost.

An opt-out is first written to a local journal (one fsync'd file per opt-out under the
controller's home), so it is durable before the confirmation prompt plays, whatever the
database does. It is then stored in the suppression list on the database worker's own lane
(not behind the calls' work), retried until stored, however long the database stays locked or
away; a number suppressed meanwhile by someone else counts as stored. Only then is the journal
entry removed. A controller that stops (or dies) first leaves the entry; the next one to start
on this home replays it before it dials anyone. An opt-out Asterisk logged while its dialplan
played a call alone (no controller) enters the same journal when a controller reconciles that
call (:meth:`OptOuts.record_logged`), and is stored the same way. Until an opt-out is stored, the dialer's last
check refuses the number (:meth:`OptOuts.guard`).

The journal holds attempt ids only, never a number: the number is read from the attempt row.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import CallAttempt
from ..db.worker import DbWorker
from ..files import atomic_write
from .store import opt_out_in

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0
STORE_WAIT_S = 2.0    # how long the call flow waits for the store before going on
_ENTRY = re.compile(r"^[0-9a-f]{32}\.optout$")


class OptOutJournal:
    """Pending opt-outs as files: ``<dir>/<hash of the attempt id>.optout`` (mode 0600,
    fsync'd with their directory), removed once stored.

    Example::

        journal = OptOutJournal(settings.home / "optout-journal")
        journal.record("0b1c...")          # durable when it returns
        journal.pending()                  # ["0b1c..."]
        journal.done("0b1c...")
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def record(self, attempt_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        atomic_write(self._path(attempt_id),
                     json.dumps({"attempt_id": attempt_id, "at_ms": int(time.time() * 1000)}),
                     0o600)

    def pending(self) -> list[str]:
        """The attempt ids whose opt-out is not stored yet, oldest first."""
        try:
            paths = [p for p in self.directory.iterdir() if _ENTRY.match(p.name)]
        except FileNotFoundError:
            return []
        aged = []
        for path in paths:
            try:
                aged.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                continue                      # stored and removed since the listing
        found = []
        for _mtime, path in sorted(aged):
            try:
                found.append(str(json.loads(path.read_text())["attempt_id"]))
            except FileNotFoundError:
                continue                      # stored meanwhile by another controller
            except (ValueError, KeyError, TypeError):
                log.error("opt-out journal: unreadable entry %s kept for an operator", path.name)
        return found

    def done(self, attempt_id: str) -> None:
        self._path(attempt_id).unlink(missing_ok=True)

    def _path(self, attempt_id: str) -> Path:
        # The attempt id came over the wire: it never becomes a file name as it is.
        return self.directory / f"{hashlib.sha256(attempt_id.encode()).hexdigest()[:32]}.optout"


class OptOuts:
    """Example::

        optouts = OptOuts(worker, key, OptOutJournal(home / "optout-journal"))
        await optouts.replay()                 # at start, before dialing
        await optouts.opt_out(attempt_id)      # returns once durable; stored in the background
        await optouts.close()                  # at stop: what is not stored stays journaled
    """

    def __init__(self, worker: DbWorker, key: str, journal: OptOutJournal):
        self.worker, self.key, self.journal = worker, key, journal
        self._storing: dict[str, asyncio.Task] = {}
        self._journaling: set[asyncio.Task] = set()
        self._pending: frozenset[str] = frozenset()   # read by the database thread
        self._lock = threading.Lock()       # _pending is also added to from that thread
        self._logged: set[str] = set()      # opt-outs read from Asterisk's log, journaled
        self._loop: asyncio.AbstractEventLoop | None = None   # known from replay() on

    async def opt_out(self, attempt_id: str) -> None:
        """Make the opt-out durable (journal), then store it in the background. Shielded: a
        cancelled call flow still completes both; never raises (the call's own measurements
        must be saved whatever happens here)."""
        task = asyncio.ensure_future(self._opt_out(attempt_id))
        self._journaling.add(task)
        task.add_done_callback(self._journaling.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: opt-out could not be journaled; storing it directly",
                          attempt_id)

    async def _opt_out(self, attempt_id: str) -> None:
        self._hold(attempt_id)
        try:
            await asyncio.to_thread(self.journal.record, attempt_id)
        finally:
            storing = self._store_later(attempt_id)
        # A healthy database stores it at once: then it is in the suppression list before
        # the call ends. A slow one does not hold the call: the journal already has it.
        await asyncio.wait([storing], timeout=STORE_WAIT_S)

    def record_logged(self, attempt_id: str) -> None:
        """An opt-out found in Asterisk's log (pressed while the dialplan played a call alone;
        read on the database thread): held and journaled at once, so the number is refused
        before its call is settled, then stored in the background like a live one (or by the
        next start's :meth:`replay`). Reading the same log entry again does nothing."""
        with self._lock:
            if attempt_id in self._logged:
                return
            self._logged.add(attempt_id)
        self._hold(attempt_id)
        self.journal.record(attempt_id)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._store_later, attempt_id)

    async def replay(self) -> int:
        """Store every journaled opt-out (left by a controller that stopped first); returns
        how many. Waits until all are stored: nobody is dialed before."""
        self._loop = asyncio.get_running_loop()
        ids = await asyncio.to_thread(self.journal.pending)
        if ids:
            log.warning("storing %d opt-out(s) left in the journal before dialing", len(ids))
        tasks = [self._store_later(i) for i in ids]
        await asyncio.gather(*tasks)
        return len(ids)

    async def close(self, grace_s: float = 5.0) -> None:
        """Let writes in progress finish for *grace_s*; what is left stays in the journal."""
        await asyncio.gather(*self._journaling, return_exceptions=True)   # a moment: a file
        tasks = list(self._storing.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("%d opt-out(s) not stored yet: kept in the journal for the next start",
                        len(pending))

    def guard(self, check: Callable[[Session, object], str | None]
              ) -> Callable[[Session, object], str | None]:
        """Wrap the dialer's last check: a number whose opt-out is not stored yet is
        suppressed already."""
        def guarded(session: Session, attempt) -> str | None:
            pending = self._pending
            if pending and attempt.number in set(session.scalars(
                    select(CallAttempt.number).where(CallAttempt.id.in_(sorted(pending))))):
                return "suppressed"
            return check(session, attempt)
        return guarded

    def _store_later(self, attempt_id: str) -> asyncio.Task:
        task = self._storing.get(attempt_id)
        if task is None:
            self._hold(attempt_id)
            task = asyncio.ensure_future(self._store(attempt_id))
            self._storing[attempt_id] = task
            task.add_done_callback(lambda _t: self._storing.pop(attempt_id, None))
        return task

    async def _store(self, attempt_id: str) -> None:
        pause = RETRY_PAUSE_S
        while True:
            try:
                outcome = await self.worker.urgent(opt_out_in, attempt_id, self.key)
                break
            except Exception as exc:   # locked, away, a concurrent add: the next try decides
                log.warning("call %s: opt-out not stored yet (%s); retrying", attempt_id,
                            type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_S)
        log.info("call %s: opt-out stored (%s)", attempt_id, outcome)
        await asyncio.to_thread(self.journal.done, attempt_id)
        with self._lock:
            self._pending = self._pending - {attempt_id}

    def _hold(self, attempt_id: str) -> None:
        with self._lock:
            self._pending = self._pending | {attempt_id}
