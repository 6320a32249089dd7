"""A controller's heartbeat: its own thread and its own connection, never queued behind the
database worker's work, so a controller whose worker waits (a slow claim, a locked database for
a while) does not look dead to the others. The beat is the database's clock
(``db_clock_ms``), and so is every judgement of staleness (``dialer_queries.orphaned``)."""
from __future__ import annotations

import logging
import threading

from .dialer_queries import heartbeat
from .session import Database

log = logging.getLogger(__name__)


class Heartbeat:
    """Example::

        beat = Heartbeat(db, lease_id, every_s=2.0)
        beat.start()
        ...
        beat.stop()
    """

    def __init__(self, db: Database, lease_id: str, every_s: float):
        self.db, self.lease_id, self.every_s = db, lease_id, every_s
        self.beats = 0           # beats written (tests and metrics read it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (returns once the thread has ended: at most one beat's time)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def beat(self) -> None:
        with self.db.session(writer=True) as s:
            heartbeat(s, self.lease_id)
        self.beats += 1

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.beat()
                if failing:
                    log.warning("heartbeat written again")
                failing = False
            except Exception as exc:           # retried at the next beat, never fatal
                if not failing:
                    log.warning("heartbeat not written (%s); retrying", type(exc).__name__)
                failing = True
            self._stop.wait(self.every_s)
