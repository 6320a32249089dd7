"""What the call flow reads and writes in the database: a campaign's script for an attempt,
and the per-segment listen results. Runs in a worker thread so a slow database never stalls
the audio of other calls."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ..audio import asterisk_name
from ..db import CallAttempt, CallRecord, Campaign, Database, SegmentListen
from .player import PlayResult, Script, Segment


class CallStore:
    """Example: ``script = await store.script_for(attempt_id, "/srv/sc-asterisk/lab/sounds")``."""

    def __init__(self, db: Database, executor: ThreadPoolExecutor | None = None):
        self.db = db
        # One writer thread: SQLite serialises writers anyway, and order is preserved.
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def script_for(self, attempt_id: str, sounds_dir: str) -> Script | None:
        return await self.run(self._script_for, attempt_id, sounds_dir)

    def _script_for(self, attempt_id: str, sounds_dir: str) -> Script | None:
        with self.db.session() as s:
            attempt = s.get(CallAttempt, attempt_id)
            if attempt is None:
                return None
            campaign = s.get(Campaign, attempt.campaign_id)
            segments = tuple(Segment(seg.role, asterisk_name(seg.asset, sounds_dir),
                                     seg.asset.duration_ms) for seg in campaign.segments)
            return Script(segments=segments, optout_digit=campaign.optout_digit)

    async def save_play(self, attempt_id: str, result: PlayResult) -> None:
        await self.run(self._save_play, attempt_id, result)

    def _save_play(self, attempt_id: str, result: PlayResult) -> None:
        with self.db.session() as s:
            record = s.get(CallRecord, attempt_id)
            if record is None:
                record = CallRecord(attempt_id=attempt_id)
                s.add(record)
            record.hung_up_by = result.hung_up_by
            record.segments = [SegmentListen(position=r.position, role=r.role, length_ms=r.length_ms,
                                             listened_ms=r.listened_ms, heard_full=r.heard_full,
                                             stop_reason=r.stop_reason) for r in result.segments]
