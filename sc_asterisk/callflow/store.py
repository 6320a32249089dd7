"""What the call flow reads and writes in the database: a campaign's script, the per-segment
listen results, opt-outs, inbound callback calls. Every query runs on the controller's
database worker (``db.worker``), so a slow database never stalls the audio of other calls."""
from __future__ import annotations

import hashlib
import time
from pathlib import PurePosixPath
from typing import Callable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..audio import asterisk_name, stem_of
from ..contacts.numbers import NumberRejected, to_e164
from ..contacts.suppression import SuppressionStore
from ..db import AudioAsset, CallAttempt, CallRecord, Campaign, CampaignSegment, SegmentListen
from ..db.worker import DbWorker
from ..dialer.outcomes import ANSWERED
from ..dialer.states import AttemptState, transition
from .player import PlayResult, Script, Segment
from .amd import parse_amd
from .roles import CONFIRM_ROLE, PLAYED_ROLES, VOICEMAIL_ROLE


MEASURED, RECONSTRUCTED = "measured", "reconstructed"    # CallRecord.precision


def now_ms() -> int:
    return int(time.time() * 1000)


class CallStore:
    """Example::

        store = CallStore(DbWorker(db))
        script = await store.script_for(attempt_id, "/srv/sc-asterisk/lab/sounds")
    """

    def __init__(self, worker: DbWorker,
                 publish: Callable[[AudioAsset], None] | None = None,
                 hand_over: Callable[[str, PlayResult], bool] | None = None):
        self.worker = worker
        # Takes what a call's session measured to write it with the call's end, in one
        # transaction (the dialer following the call: dialer.calls.CallTracker.take_play);
        # False for a call nobody here follows (inbound, or resumed for another controller).
        self.hand_over = hand_over
        # Puts a prompt on the nodes (in the database thread) before a script naming it is
        # played: a replaced prompt is a new file (content-addressed).
        self.publish = publish
        self._scripts: dict[tuple[str, str], Script] = {}

    async def script_for(self, attempt_id: str, sounds_dir: str, script_key: str = ""
                         ) -> Script | None:
        """The script of the attempt's campaign. With *script_key* (``SC_CAMPAIGN``, which the
        claim sets to :func:`script_key`: the campaign and its prompts' content) a script
        already built is served from memory: the callee's first second of audio must not wait
        behind other calls' database work. A prompt replaced during ``serve`` changes the key,
        so the next call reads the new script."""
        key = (script_key, sounds_dir)
        if script_key and key in self._scripts:
            return self._scripts[key]
        script = await self.worker.transaction(self._script_for, attempt_id, sounds_dir)
        if script is not None and script_key:
            campaign = script_key.split(".", 1)[0]
            for old in [k for k in self._scripts
                        if k[1] == sounds_dir and k[0].split(".", 1)[0] == campaign]:
                del self._scripts[old]       # superseded by a replaced prompt
            self._scripts[key] = script
        return script

    def _script_for(self, s: Session, attempt_id: str, sounds_dir: str) -> Script | None:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None:
            return None
        return self._campaign_script(s.get(Campaign, attempt.campaign_id), sounds_dir)

    def _campaign_script(self, campaign: Campaign, sounds_dir: str) -> Script:
        if self.publish is not None:
            for seg in campaign.segments:
                self.publish(seg.asset)
        return campaign_script(campaign, sounds_dir)

    async def save_play(self, attempt_id: str, result: PlayResult) -> None:
        """Record what the callee heard: handed to the call's end when this controller
        follows the call (one transaction for both), else written now."""
        if self.hand_over is not None and self.hand_over(attempt_id, result):
            return
        await self.worker.transaction(_save_play, attempt_id, result)

    async def save_amd(self, attempt_id: str, result: str, cause: str) -> None:
        await self.worker.transaction(_save_amd, attempt_id, result, cause)

    async def open_inbound(self, called: str, caller: str, sounds_dir: str,
                           node: str | None = None, controller: str | None = None
                           ) -> tuple[str, Script] | None:
        """Record an inbound call to a campaign's caller-ID number, held by *controller* on
        *node*; None if no campaign has it."""
        return await self.worker.transaction(_open_inbound, called, caller, sounds_dir,
                                             self._campaign_script, node, controller)

    async def close_inbound(self, attempt_id: str) -> None:
        await self.worker.transaction(_close_inbound, attempt_id)


def _save_play(s: Session, attempt_id: str, result: PlayResult) -> None:
    record_play(s, attempt_id, result, MEASURED)


def record_play(s: Session, attempt_id: str, result: PlayResult, precision: str) -> None:
    """Write what the callee heard of each segment (replacing what was there) and how it was
    obtained (*precision*: MEASURED or RECONSTRUCTED).

    Example: ``record_play(s, attempt_id, reconstruct(facts, lengths), RECONSTRUCTED)``
    """
    # Statements built once, not ORM objects: this runs once per answered call on the one
    # database thread every call shares.
    record = {"r_id": attempt_id, "hung_up_by": result.hung_up_by, "precision": precision}
    if result.opted_out:
        record["opted_out"] = True
    found = s.execute(_PLAY_RECORD, record).rowcount
    if not found:
        s.add(CallRecord(attempt_id=attempt_id, hung_up_by=result.hung_up_by,
                         precision=precision, opted_out=result.opted_out))
        s.flush()
    s.execute(_DROP_LISTENS, {"r_id": attempt_id})
    if result.segments:
        s.execute(_ADD_LISTEN, [
            {"attempt_id": attempt_id, "position": r.position, "role": r.role,
             "length_ms": r.length_ms, "listened_ms": r.listened_ms,
             "heard_full": r.heard_full, "stop_reason": r.stop_reason}
            for r in result.segments])


_PLAY_RECORD = CallRecord.__table__.update().where(
    CallRecord.__table__.c.attempt_id == bindparam("r_id"))
_DROP_LISTENS = SegmentListen.__table__.delete().where(
    SegmentListen.__table__.c.attempt_id == bindparam("r_id"))
_ADD_LISTEN = SegmentListen.__table__.insert()


def opt_out_in(s: Session, attempt_id: str, key: str) -> str:
    """Suppress the attempt's number and mark its record; idempotent (run again after a
    failure, or by another controller replaying the same journal entry). Returns what it
    found: "suppressed", "already" (suppressed or erased before: a concurrent add included),
    "no-number" (a withheld or invalid inbound number: nothing to suppress) or "no-attempt".
    """
    attempt = s.get(CallAttempt, attempt_id)
    if attempt is None:
        return "no-attempt"
    record = s.get(CallRecord, attempt_id)
    if record is not None:
        record.opted_out = True
    store = SuppressionStore(s, key)
    reason = store.is_suppressed(attempt.number)
    if reason == "invalid-number":
        return "no-number"
    if reason is not None:
        return "already"
    campaign = s.get(Campaign, attempt.campaign_id)
    # An IntegrityError here (someone added the number since the check) rolls the whole
    # transaction back; the retry then finds the entry: "already".
    store.add(to_e164(attempt.number), "opt-out", f"dtmf:{campaign.name}:{attempt_id}")
    return "suppressed"


def _save_amd(s: Session, attempt_id: str, result: str, cause: str) -> None:
    record = s.get(CallRecord, attempt_id)
    if record is not None:
        record.amd_result, record.amd_cause = result[:10], cause[:60]


def _open_inbound(s: Session, called: str, caller: str, sounds_dir: str,
                  build=None, node: str | None = None, controller: str | None = None
                  ) -> tuple[str, Script] | None:
    digits = _digits(called)
    campaign = next((c for c in s.scalars(select(Campaign).where(Campaign.caller_id.is_not(None))
                                           .order_by(Campaign.id.desc()))
                     if _digits(c.caller_id) == digits), None)
    if campaign is None:
        return None
    try:
        number = to_e164(caller)
    except NumberRejected:
        number = caller[:64] or "anonymous"
    # An inbound call starts answered: it is inserted so, never claimed.
    attempt = CallAttempt(campaign_id=campaign.id, number=number, attempt_no=0,
                          state=AttemptState.ANSWERED, trunk=campaign.trunk, node=node,
                          controller=controller)
    s.add(attempt)
    s.flush()
    s.add(CallRecord(attempt_id=attempt.id, direction="inbound", outcome=ANSWERED,
                     answer_ms=now_ms(), caller_id=campaign.caller_id))
    return attempt.id, (build or campaign_script)(campaign, sounds_dir)


def _close_inbound(s: Session, attempt_id: str) -> None:
    transition(s, attempt_id, AttemptState.FINISHED)
    s.get(CallRecord, attempt_id).end_ms = now_ms()


def campaign_script(campaign: Campaign, sounds_dir: str) -> Script:
    """The played segments in order, the opt-out digit and its confirmation prompt, and what
    to do with answering machines."""
    def segments(roles):
        return tuple(Segment(seg.role, asterisk_name(seg.asset, sounds_dir), seg.asset.duration_ms)
                     for seg in campaign.segments if seg.role in roles)
    confirm = next((seg for seg in campaign.segments if seg.role == CONFIRM_ROLE), None)
    amd = parse_amd(campaign.amd_policy)
    return Script(segments=segments(PLAYED_ROLES), optout_digit=campaign.optout_digit,
                  optout_confirm=asterisk_name(confirm.asset, sounds_dir) if confirm else None,
                  amd_policy=amd.policy if amd else None, voicemail=segments((VOICEMAIL_ROLE,)))


def script_files(s: Session, campaign_id: int, sounds_dir: str
                 ) -> tuple[tuple[str, ...], str | None, str | None]:
    """The played files in order, the opt-out digit and the confirmation prompt's file, as
    :func:`campaign_script` names them, read without loading any audio (two small queries:
    the dialer asks for them on the database thread, once per script and node).

    Example: ``script_files(s, 7, "/var/lib/asterisk/sounds/sc")``
    """
    rows = s.execute(select(CampaignSegment.role, AudioAsset.sha256)
                     .join(AudioAsset, AudioAsset.id == CampaignSegment.asset_id)
                     .where(CampaignSegment.campaign_id == campaign_id)
                     .order_by(CampaignSegment.position)).all()
    digit = s.scalar(select(Campaign.optout_digit).where(Campaign.id == campaign_id))

    def path(sha256: str) -> str:
        return str(PurePosixPath(sounds_dir) / stem_of(sha256))
    confirm = next((path(sha) for role, sha in rows if role == CONFIRM_ROLE), None)
    return tuple(path(sha) for role, sha in rows if role in PLAYED_ROLES), digit, confirm


def script_key_of(campaign_id: int, rows) -> str:
    """What names a campaign's script in the call flow's memory: the campaign id and a digest
    of its prompts' content, from its segment rows (``db.dialer_queries.script_rows``), which
    every claim reads: ``audio import --replace`` gives the next call a new key.

    Example: ``script_key_of(7, script_rows(conn, 7))`` -> "7.3f9a0c1d2e4b"
    """
    digest = hashlib.sha256("|".join(f"{p}:{r}:{h}" for p, r, h, *_ in rows).encode())
    return f"{campaign_id}.{digest.hexdigest()[:12]}"


def _digits(number: str | None) -> str:
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    # 0033 1 99... and +33 1 99... and 01 99... are the same French number
    if digits.startswith("0033"):
        digits = digits[4:]
    elif digits.startswith("33"):
        digits = digits[2:]
    return digits.lstrip("0")
