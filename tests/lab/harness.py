"""Running controllers in lab tests: in this process (a started Controller dialing in the
background) or as ``sc-asterisk serve`` subprocesses. Only the plumbing: what a test checks
stays in the test."""
from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

from campaigns import campaign_status, wait_until
from sc_asterisk.config import Settings
from sc_asterisk.dialer.lifecycle import set_status
from sc_asterisk.keys import read_key
from sc_asterisk.service import Controller


class Serving:
    """A started controller whose dialing loop (``Controller.serve``) runs in :attr:`task`."""

    def __init__(self, controller: Controller, task: asyncio.Task, db, campaign: str):
        self.controller, self.task, self.db, self.campaign = controller, task, db, campaign
        self._error_seen = False

    async def until_completed(self, timeout: float) -> None:
        """Wait for the campaign to complete (AssertionError after *timeout* seconds)."""
        await wait_until(lambda: campaign_status(self.db, self.campaign) == "completed", timeout)

    def died(self) -> BaseException | None:
        """The error the dialing loop ended with, if it ended with one: the test then owns it
        (:meth:`stop_dialing` does not raise it)."""
        if not self.task.done():
            return None
        self._error_seen = True
        return self.task.exception()

    async def stop_dialing(self) -> None:
        """Stop claiming and wait for the dialing loop to return (calls in progress go on, the
        controller stays up); a loop that died raises its error here. Leaving the block does
        this too: call it when the test reads the controller after its loop, before it stops.
        """
        self.controller.scheduler.stop()
        await asyncio.wait([self.task])
        if not self._error_seen:
            self.task.result()


@asynccontextmanager
async def serving(db, nodes, campaign: str,
                  prepare: Callable[[Controller], Awaitable[None]] | None = None,
                  **controller_options) -> AsyncIterator[Serving]:
    """A started Controller for *nodes*, *prepare*d, then *campaign* set running and every
    running campaign dialed in the background. Leaving the block stops claiming, waits for
    the dialing loop, then stops the controller (the single shutdown path).

    Example::

        async with serving(db, lab.node_info(), "cap", max_channels={"lab-x": 5}) as run:
            await wait_until(lambda: len(sim.invites()) >= 4, 10)
            await run.until_completed(30)
    """
    async with Controller(db, nodes, **controller_options) as controller:
        if prepare is not None:
            await prepare(controller)
        await asyncio.to_thread(set_status, db, campaign, "running")
        run = Serving(controller, asyncio.create_task(controller.serve()), db, campaign)
        try:
            yield run
        finally:
            await run.stop_dialing()


def run_to_end(db, nodes, campaign: str, **controller_options) -> None:
    """Start a Controller, run *campaign* until it completes (``Controller.run_campaign``),
    stop the controller.

    Example: ``run_to_end(db, lab.node_info(), "cap")``
    """
    async def go():
        async with Controller(db, nodes, **controller_options) as controller:
            await controller.run_campaign(campaign)
    asyncio.run(go())


def lab_spec(lab) -> str:
    """``serve --lab``'s NAME:OFFSET for the lab instance *lab*."""
    return f"{lab.name}:{(lab.ports.ami - 5038) // 10000}"


def serve_process(db_url: str, lab, log, agi_port: int | None = None,
                  metrics_port: int | None = None) -> subprocess.Popen:
    """``sc-asterisk serve`` on the lab instance in a subprocess (environment inherited: the
    test's SC_ASTERISK_HOME), reconciling dead controllers' calls after 3 s.

    Example: ``proc = serve_process(db.url, lab, open(tmp_path / "serve.log", "wb"))``
    """
    cmd = [sys.executable, "-m", "sc_asterisk", "--db", db_url, "serve", "--lab", lab_spec(lab),
           "--reconcile-after", "3", "--drain-timeout", "30"]
    if agi_port:
        cmd += ["--agi-port", str(agi_port)]
    if metrics_port:
        cmd += ["--metrics-port", str(metrics_port)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    STARTED.append(proc)
    return proc


# Every `serve` a test started: the lab's conftest kills the ones still alive after the test,
# so a failed test never leaves a controller holding the lab's ports for the next ones.
STARTED: list[subprocess.Popen] = []


def reap_started() -> None:
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def lab_key() -> str:
    """The test home's installation key: the one the ``db`` fixture recorded in the database.

    Example: ``run_to_end(db, lab.node_info(), "c", key=lab_key())``
    """
    return read_key(Settings.load())


def kill_9(proc: subprocess.Popen) -> None:
    """Kill *proc* with no chance to clean up, and reap it."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def wait_sync(predicate, timeout: float):
    """:func:`campaigns.wait_until` outside an event loop."""
    return asyncio.run(wait_until(predicate, timeout))


def lock_sqlite(path: str, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Hold an exclusive lock on the SQLite file *path* for *seconds*, from a thread: every
    writer waits (readers still read: WAL). Returns the thread and an event set once the lock
    is held.

    Example: ``holder, locked = lock_sqlite(path, 4.0); locked.wait(); ...; holder.join()``
    """
    locked = threading.Event()

    def hold():
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        threading.Event().wait(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    return holder, locked
