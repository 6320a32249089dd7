"""The ``broadcast`` FastAGI script: an answered outbound call hears its campaign's script.

Reads like a checklist: find the attempt, play, record. The record is written even when the
session is being cancelled (shutdown), because a call's result must never be lost.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from ..agi import AgiHangup, AgiSession
from .player import play
from .store import CallStore

log = logging.getLogger(__name__)


class BroadcastHandler:
    """Example: ``AgiServer({"broadcast": BroadcastHandler(store)})``."""

    def __init__(self, store: CallStore, on_finished: Callable[[str], None] | None = None):
        self.store = store
        self.on_finished = on_finished

    async def __call__(self, session: AgiSession) -> None:
        attempt_id = session.uniqueid
        sounds_dir = session.env.get("agi_arg_1", "")
        try:
            script = await self.store.script_for(attempt_id, sounds_dir)
            if script is None:
                log.error("broadcast: no attempt %s; hanging up", attempt_id)
                await session.command("HANGUP")
                return
            result = await play(session, script)
            # Shielded: a shutdown must not lose what this call measured.
            await asyncio.shield(self.store.save_play(attempt_id, result))
            if result.hung_up_by == "system" and not session.hangup_seen:
                try:
                    await session.command("HANGUP")
                except AgiHangup:
                    pass
        finally:
            if self.on_finished is not None:
                self.on_finished(attempt_id)
