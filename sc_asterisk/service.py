"""The controller: AMI links to the nodes, the FastAGI server and the dialing loop, started
and stopped as one, with a heartbeat lease and reconciliation of dead controllers' calls.

Used by ``campaign run`` (one campaign, then exit), ``serve`` and ``demo``; one shutdown path,
signals included.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

from sqlalchemy import select

from .agi import AgiGate, AgiServer, derive_token, resolve_peers
from .audio import publish
from .ami import AmiClient
from .callflow.broadcast import BroadcastHandler, CallbackHandler
from .callflow.optouts import OptOutJournal, OptOuts
from .callflow.store import CallStore
from .cel import CelLog
from .config import Settings
from .errors import ConfigError
from .keys import load_key, verify_key
from .contacts.suppression import dial_check
from .db import Database
from .db.dialer_queries import record_answer
from .db.lease import Heartbeat
from .db.session import db_clock_ms
from .db.models import Campaign, ControllerLease
from .db.worker import DbWorker
from .dialer.calls import CallTracker, now_ms
from .dialer.rebuild import journaling
from .dialer.reconcile import live_channels, resync, sweep, take_orphans
from .dialer.scheduler import NodeLink, Scheduler
from .dialer.states import AttemptState, CampaignStatus, transition
from .nodes import NodeInfo
from .metrics import Metrics

log = logging.getLogger(__name__)
MIN_AGI_SESSIONS = 500
# How long a thread holding the GIL keeps it while another waits (CPython's default: 5 ms). The
# database thread runs pure Python (SQLAlchemy) for several ms a transaction; meanwhile the event
# loop, which sends every call's next FastAGI command, waits for the GIL. At 1 ms the listen
# error's p95 at 500 and 600 concurrent calls fell from 63 and 244 ms to 11 and 40 ms, on the
# same machine in the same hour (bench/README.md).
GIL_SWITCH_S = 0.001


class Controller:
    """Example::

        async with Controller(db, [node]) as controller:
            await controller.run_campaign("demo")
    """

    def __init__(self, db: Database, nodes: list[NodeInfo] | NodeInfo,
                 key: str | None = None, agi_bind: str = "127.0.0.1",
                 agi_port: int | None = None, stale_after_s: float = 10.0,
                 max_channels: dict[str, int] | None = None,
                 journal_dir: str | os.PathLike | None = None):
        nodes = [nodes] if isinstance(nodes, NodeInfo) else list(nodes)
        self.db = db
        # Process-wide: the event loop gets the GIL back from the database thread within 1 ms.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        # The installation key hashes the suppression store: every controller of an
        # installation must share it (SC_ASTERISK_HOME/secrets/installation-key).
        # Read and checked against the database's check value (keys.py); a key passed in is
        # checked at start.
        self.key = key or load_key(Settings.load(), db)
        # FastAGI sessions must carry the installation's token (rendered into every node's
        # SC_AGI, sent with every Originate) and come from a node's address (agi/auth.py).
        self.agi_token = derive_token(self.key)
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.stale_after_ms = int(stale_after_s * 1000)
        # Beat several times per staleness period, so a live controller never looks dead; on
        # a thread and connection of its own, not behind the database worker's queue.
        self.heartbeat = Heartbeat(db, self.id, min(2.0, max(0.25, stale_after_s / 4)))
        self.metrics = Metrics()
        self.worker = DbWorker(db)
        self.store = CallStore(self.worker, publish=self._publish_everywhere)
        # Opt-outs are journaled under the controller's home before anything else, stored on
        # the worker's urgent lane, and replayed at start (callflow/optouts.py).
        self.optouts = OptOuts(self.worker, self.key, OptOutJournal(
            Path(journal_dir) if journal_dir else Settings.load().home / "optout-journal"))
        self.tracker = CallTracker(on_answer=self._persist_answer)
        self.store.hand_over = self.tracker.take_play     # listens written with the call's end
        self.links = {}
        # Asterisk's own log of each call, read when a dead controller's calls are settled.
        self.cel = {node.name: CelLog(node.cel_file) for node in nodes if node.cel_file}
        # Read on the database thread; an opt-out it shows (pressed while the dialplan played
        # a call alone) is journaled as it is read, before its call is settled.
        self.logged_facts = journaling(self._node_facts, self.optouts.record_logged)
        for node in nodes:
            ami = AmiClient(node.ami_host, node.ami_port, node.ami_user, node.ami_secret,
                            name=node.name)
            self.tracker.watch(ami)
            ami.on_login(lambda n=node.name: self._resync(n))
            self.links[node.name] = NodeLink(node, ami, (max_channels or {}).get(
                node.name, node.max_channels))
        agi_port = agi_port or nodes[0].agi_port
        self.scheduler = Scheduler(self.worker, self.tracker, self.links, self.id, agi_port,
                                   dial_check=self.optouts.guard(dial_check(self.key)),
                                   metrics=self.metrics, agi_token=self.agi_token,
                                   facts=self.logged_facts)
        self.agi = AgiServer({"broadcast": BroadcastHandler(self.store, self.optouts,
                                                            self.tracker.agi_started,
                                                            self.tracker.agi_finished),
                              "callback": CallbackHandler(self.store, self.optouts, self.id,
                                                          set(self.links))},
                             host=agi_bind, port=agi_port, on_refused=self.metrics.agi_refused,
                             gate=AgiGate(token=self.agi_token, peers=frozenset()),
                             max_sessions=agi_sessions(self.links.values()))
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.worker.transaction(verify_key, self.key)   # a foreign key: dial nobody
        await self.worker.transaction(self._register)
        self.heartbeat.start()
        await self.optouts.replay()       # before anyone is dialed
        await self.worker.transaction(self._publish_callback_prompts)
        # Sessions only from the nodes' addresses (as their AMI host resolves here).
        peers = await resolve_peers(link.info.ami_host for link in self.links.values())
        self.agi.gate = AgiGate(token=self.agi_token, peers=peers)
        log.info("FastAGI admits sessions from %s only", ", ".join(sorted(peers)) or "nobody")
        try:
            await self.agi.start()
        except OSError as exc:
            await self.worker.transaction(self._unregister)
            raise _cannot_listen(exc, "FastAGI", self.agi.host, self.agi.port,
                                 "--agi-port") from None
        connected = 0
        for link in self.links.values():
            try:
                await link.ami.connect()
                connected += 1
            except Exception as exc:       # one node down must not stop the others
                log.error("node %s unreachable at start: %s", link.info.name, exc)
                if len(self.links) == 1:
                    await self.agi.stop(grace=0)
                    await asyncio.to_thread(self.heartbeat.stop)
                    raise
        # Asterisk's log is read up to now before anything is dialed (a first read parses the
        # file's tail), and kept read by housekeeping: never a long read on the database thread.
        await self._read_cel()
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    async def stop(self, drain_s: float = 60.0) -> None:
        """The single shutdown path: stop claiming, let live calls finish (bounded), close."""
        self.scheduler.stop()
        if not await self.scheduler.drain(drain_s):
            # Left as they are in the database: the next controller reconciles them.
            log.warning("calls still up after %.0fs; stopping anyway", drain_s)
            await self.scheduler.cancel_calls()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in self.links.values():
            link.ami.close()
        await self.agi.stop()
        await self.optouts.close()        # what is not stored yet stays journaled
        await asyncio.to_thread(self.heartbeat.stop)
        await self.worker.transaction(self._unregister)
        await self.worker.close()

    async def __aenter__(self) -> "Controller":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def run_campaign(self, name: str) -> None:
        """Start the campaign if it is a draft, and dial until it completes or is stopped."""
        from .dialer.lifecycle import set_status
        await self.worker.run(set_status, self.db, name, CampaignStatus.RUNNING)
        await self.scheduler.run(only=name)

    async def serve(self) -> None:
        """Dial every running campaign until stop() is called."""
        await self.scheduler.run()

    async def serve_until_signal(self, drain_s: float, metrics_port: int = 0) -> int:
        """Start, dial every running campaign until SIGTERM or SIGINT, then stop originating,
        let live calls finish (at most *drain_s* seconds) and stop. Returns the exit status:
        0, or 1 when the dialing loop failed (a supervisor restarts us).

        Example: ``sys.exit(asyncio.run(controller.serve_until_signal(drain_s=120)))``
        """
        if metrics_port:          # first: a port in use must stop us before anything starts
            try:
                self.metrics.serve(metrics_port)
            except OSError as exc:
                raise _cannot_listen(exc, "metrics", "127.0.0.1", metrics_port,
                                     "--metrics-port") from None
        await self.start()
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, signalled.set)
        try:
            serving = asyncio.create_task(self.serve())
            stopping = asyncio.create_task(signalled.wait())
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if serving.done() and serving.exception() is not None:
                # the dialing loop died: stop loudly instead of idling
                log.error("the dialing loop failed: %s", serving.exception())
                await self.stop(drain_s=drain_s)
                return 1
            log.info("stopping: no new calls; waiting up to %.0fs for live calls", drain_s)
            self.scheduler.stop()
            await serving
            await self.stop(drain_s=drain_s)
            log.info("stopped")
            return 0
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    # -- lease, reconciliation, resync ----------------------------------------------------------
    def _register(self, s) -> None:
        s.add(ControllerLease(id=self.id, host=socket.gethostname(), pid=os.getpid(),
                              started_ms=now_ms(), heartbeat_ms=db_clock_ms()))

    def _publish_callback_prompts(self, s) -> None:
        """People may call a campaign's number back at any time: its prompts must be on every
        node before the first inbound call, not only once the campaign dials."""
        campaigns = s.scalars(select(Campaign).where(Campaign.caller_id.is_not(None),
                                                     Campaign.status != CampaignStatus.CANCELLED))
        for asset in {seg.asset.id: seg.asset for c in campaigns for seg in c.segments}.values():
            self._publish_everywhere(asset)

    def _publish_everywhere(self, asset) -> None:
        for link in self.links.values():
            publish(asset, link.info.sounds_dir)

    def _unregister(self, s) -> None:
        lease = s.get(ControllerLease, self.id)
        if lease is not None:
            s.delete(lease)

    async def _housekeeping(self) -> None:
        every_s = self.heartbeat.every_s
        while True:
            try:
                await self._read_cel()
                await self.reconcile()
                for name, link in self.links.items():
                    self.metrics.ami_up.labels(name).set(1 if link.ami.connected else 0)
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(every_s)

    async def reconcile(self) -> None:
        """Adopt or close attempts left in flight by controllers whose heartbeat stopped."""
        channels = {name: (await live_channels(link.ami)) if link.ami.connected else None
                    for name, link in self.links.items()}
        adopted = await self.worker.transaction(take_orphans, self.id, self.stale_after_ms,
                                                channels, now_ms(), self.logged_facts)
        for attempt_id, node, answer_ms in adopted:
            self.scheduler.adopt(attempt_id, node, answer_ms)
        # Then what no one else settles: this controller's calls it no longer follows,
        # stale rows no node can be asked about, and unknown calls' slots Asterisk released.
        swept = await self.worker.transaction(sweep, self.id, channels,
                                              set(self.tracker.flights), now_ms(),
                                              self.logged_facts)
        for attempt_id, node, answer_ms in swept:
            self.scheduler.adopt(attempt_id, node, answer_ms)

    async def _read_cel(self) -> None:
        for cel in self.cel.values():
            await asyncio.to_thread(cel.refresh)

    def _node_facts(self, node: str, attempt_id: str):
        """What the node's CEL log says of a call (None: no log here, or no trace)."""
        cel = self.cel.get(node)
        return cel.facts(attempt_id) if cel is not None else None

    def _persist_answer(self, attempt_id: str, answer_ms: int) -> None:
        # A write that must finish (a successor controller must know the callee was rung):
        # the worker keeps it until it is done, and close() waits for it.
        self.worker.submit(_mark_answered, self.id, attempt_id, answer_ms)

    async def _resync(self, node: str) -> None:
        """After a (re)login: flights whose channel vanished while the link was down end now."""
        await resync(self.tracker, node, self.links[node].ami)


def agi_sessions(links) -> int:
    """How many FastAGI sessions the controller serves at once: one per call its nodes may
    carry, and as many again for calls back to the campaigns' numbers and sessions ending as
    others start (at least AgiServer's default). A session refused over the cap costs its
    callee the dialplan's search for a controller (SC_RESUME_MS) before the message: the
    bench's 600-call step found that cap at 500.

    Example: ``agi_sessions([link])`` -> 1000 for a node of 500 channels
    """
    return max(MIN_AGI_SESSIONS, 2 * sum(link.max_channels for link in links))


def _mark_answered(s, controller: str, attempt_id: str, answer_ms: int) -> None:
    """The attempt was answered: recorded at once, so that a successor controller knows the
    callee was rung and never redials."""
    transition(s, attempt_id, AttemptState.ANSWERED, controller=controller)
    record_answer(s, attempt_id, answer_ms)


def _cannot_listen(exc: OSError, what: str, host: str, port: int, option: str) -> ConfigError:
    """One line that names the port and the option to change, instead of the system's words."""
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"the {what} port {host}:{port} is already in use",
                           fix=f"choose another with {option}, or stop what listens there")
    return ConfigError(f"cannot listen on the {what} port {host}:{port}: "
                       f"{exc.strerror or exc}", fix=f"choose another port with {option} "
                       "(or another address)")
