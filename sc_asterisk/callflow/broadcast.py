"""The FastAGI scripts: ``broadcast`` (an answered outbound call hears its campaign's script)
and ``callback`` (someone calls the number they saw and hears the same, with the same
opt-out). Each reads like a checklist: find the call, play, record. Records are written even
when the session is being cancelled (shutdown): a call's result must never be lost. Only the
installation's nodes reach these handlers (the server's gate, ``agi/auth.py``)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Callable

from ..agi import AgiHangup, AgiSession
from ..chanvars import AMDCAUSE, AMDSTATUS, SEGMENT_SUB
from .optouts import OptOuts
from .player import PlayResult, Resume, Script, play
from .store import CallStore

log = logging.getLogger(__name__)


class BroadcastHandler:
    """Example: ``AgiServer({"broadcast": BroadcastHandler(store, optouts)})``."""

    def __init__(self, store: CallStore, optouts: OptOuts,
                 on_started: Callable[[str], None] | None = None,
                 on_finished: Callable[[str, bool], None] | None = None):
        self.store, self.optouts = store, optouts
        self.on_started, self.on_finished = on_started, on_finished

    async def __call__(self, session: AgiSession) -> None:
        attempt_id = session.uniqueid
        if self.on_started is not None:
            # only an answered channel reaches the dialplan: the call was answered even if
            # the AMI events that say so are lost with the link
            self.on_started(attempt_id)
        whole = False       # this session played the call from its start to its end
        try:
            script = await self.store.script_for(attempt_id, session.env.get("agi_arg_1", ""),
                                                 session.env.get("agi_arg_2", ""))
            if script is None:
                log.error("broadcast: no attempt %s; hanging up", attempt_id)
                await session.command("HANGUP")
                return
            if script.amd_policy is not None:
                script = await self._apply_amd(session, attempt_id, script)
                if script is None:       # a machine, and the campaign hangs up on machines
                    await asyncio.shield(self.store.save_play(attempt_id, PlayResult()))
                    whole = True
                    await session.command("HANGUP")
                    return
            resume = resume_point(session.env.get("agi_arg_3", ""),
                                  session.env.get("agi_arg_4", ""))
            if resume is not None:
                log.warning("call %s: resumed at segment %d, %d ms in (its call flow was "
                            "lost)", attempt_id, resume.index, resume.offset_ms)
            result = await play_and_record(session, self.store, self.optouts, attempt_id,
                                           script, resume=resume or Resume(),
                                           on_segment=mark_segment(session, script))
            # A session that merely closed may have been lost with the call still up.
            whole = resume is None and (result.hung_up_by != "callee" or session.hangup_told)
        finally:
            if self.on_finished is not None:
                self.on_finished(attempt_id, whole)

    async def _apply_amd(self, session: AgiSession, attempt_id: str, script: Script
                         ) -> Script | None:
        """Record what AMD() found; return the script to play, or None to hang up."""
        status = (await session.command(f"GET VARIABLE {AMDSTATUS}")).data or "NOTSURE"
        cause = (await session.command(f"GET VARIABLE {AMDCAUSE}")).data or ""
        await self.store.save_amd(attempt_id, status, cause)
        if status != "MACHINE" or script.amd_policy == "play":
            return script
        if script.amd_policy == "hangup":
            return None
        return replace(script, segments=script.voicemail) if script.voicemail else script


class CallbackHandler:
    """Inbound calls to a campaign's caller-ID number (a DID on the trunk). The call is
    recorded on its node (``SC_NODE``, sent by the dialplan) and this controller, like an
    outbound one, so it counts against the node's channels until it ends.

    Example: ``CallbackHandler(store, optouts, controller="host-1-ab12", nodes={"paris-1"})``
    """

    def __init__(self, store: CallStore, optouts: OptOuts, controller: str | None = None,
                 nodes: frozenset[str] | set[str] = frozenset()):
        self.store, self.optouts = store, optouts
        self.controller, self.nodes = controller, frozenset(nodes)

    async def __call__(self, session: AgiSession) -> None:
        node = session.env.get("agi_arg_2", "")
        if node not in self.nodes:
            log.warning("callback: the dialplan did not name a known node (re-render the "
                        "globals: SC_NODE)")
            node = None
        opened = await self.store.open_inbound(session.env.get("agi_extension", ""),
                                               session.env.get("agi_callerid", ""),
                                               session.env.get("agi_arg_1", ""),
                                               node=node, controller=self.controller)
        if opened is None:
            log.warning("callback: no campaign uses the number called; hanging up")
            await session.command("HANGUP")
            return
        attempt_id, script = opened
        try:
            await play_and_record(session, self.store, self.optouts, attempt_id, script)
        finally:
            await asyncio.shield(self.store.close_inbound(attempt_id))


def resume_point(seg: str, lost_ms: str) -> Resume | None:
    """Where a resumed session picks up, from what the dialplan passes (``SC_SEG``,
    ``SC_LOST_MS``); None for a first session (nothing played yet) or values that make no
    sense (the script then starts over).

    >>> resume_point("1|1733520000000|/snd/notice|", "1733520001250")
    Resume(index=1, offset_ms=1250)
    >>> resume_point("", "") is None
    True
    """
    parts = seg.split("|")
    if len(parts) < 2 or not parts[0].isascii() or not parts[0].isdigit():
        return None
    try:
        start, lost = int(parts[1]), int(lost_ms)
    except ValueError:
        return None
    return Resume(int(parts[0]), max(0, lost - start))


def mark_segment(session: AgiSession, script: Script):
    """The hook that leaves each segment's start on the channel, one round trip: the
    dialplan's [sc-segment] stamps it with Asterisk's own clock and logs it (CEL). The
    campaign's opt-out digit and confirmation prompt go with it: a dialplan that plays the
    rest alone honours the digit as the call flow would."""
    optout = (script.optout_digit or "", script.optout_confirm or "")

    async def mark(index: int, offset_ms: int, path: str, later: tuple[str, ...]) -> None:
        answer = await session.gosub(SEGMENT_SUB, "s", 1,
                                     (str(index), str(offset_ms), path, "&".join(later))
                                     + optout)
        if answer.result != 0:
            # An older dialplan without [sc-segment]: the call plays on, but cannot outlive us.
            log.warning("call %s: the dialplan lacks [%s] (re-render it): %s",
                        session.uniqueid, SEGMENT_SUB, answer.text)
    return mark


async def play_and_record(session: AgiSession, store: CallStore, optouts: OptOuts,
                          attempt_id: str, script: Script, resume: Resume = Resume(),
                          on_segment=None) -> PlayResult:
    async def opt_out() -> None:
        # durable (journaled) when this returns, stored in the suppression list right after
        await optouts.opt_out(attempt_id)
        log.info("call %s: opted out by DTMF", attempt_id)

    result = await play(session, script, on_optout=opt_out, resume=resume,
                        on_segment=on_segment)
    # Shielded: a shutdown must not lose what this call measured.
    await asyncio.shield(store.save_play(attempt_id, result))
    if result.hung_up_by == "system" and not session.hangup_seen:
        try:
            await session.command("HANGUP")
        except AgiHangup:
            pass
    return result
