"""Building lab campaigns for tests: prompts, contacts, a callee plan, waiting on a condition."""
import asyncio
import time

from sqlalchemy import select

from sc_asterisk.audio import import_audio
from sc_asterisk.db import CallAttempt, CallRecord, Contact
from sc_asterisk.dialer.campaigns import create_campaign, get_campaign, queue_contacts
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.lab.sipp import CalleePlan


def numbers(block: int, n: int) -> list[str]:
    """n fictional numbers (+33 1 99 0B xx xx) unique to a test block."""
    return [f"+33199{block:02d}{i:04d}" for i in range(n)]


def make_campaign(db, prompts, name, nums, tz="Europe/Paris", **settings):
    settings.setdefault("windows", "always")
    settings.setdefault("retry_policy", NO_RETRY)
    settings.setdefault("compliance_profile", "basic")   # no opt-out intro unless a test adds one
    with db.session() as s:
        _import_once(s, prompts)
        campaign = create_campaign(s, name, message="t-message", notice="t-notice", **settings)
        ids = []
        for n in nums:
            contact = s.scalar(select(Contact).where(Contact.e164 == n))
            if contact is None:
                contact = Contact(e164=n, time_zone=tz, list_name=name)
                s.add(contact)
                s.flush()
            ids.append(contact.id)
        queue_contacts(s, campaign, ids)


def _import_once(s, prompts):
    from sc_asterisk.db import AudioAsset
    if s.scalar(select(AudioAsset).where(AudioAsset.name == "t-message")) is None:
        import_audio(s, prompts["message"], "t-message")
        import_audio(s, prompts["notice"], "t-notice")


def plan_for(nums, behaviour="answer", **kw) -> CalleePlan:
    plan = CalleePlan()
    for n in nums:
        plan.add(n, behaviour, **kw)
    return plan


def campaign_status(db, name) -> str:
    with db.session() as s:
        return get_campaign(s, name).status


def attempts(db, name) -> list[tuple[str, str, str | None]]:
    """(number, state, outcome) of every attempt of the campaign."""
    with db.session() as s:
        cid = get_campaign(s, name).id
        rows = s.execute(select(CallAttempt.number, CallAttempt.state, CallRecord.outcome)
                         .outerjoin(CallRecord).where(CallAttempt.campaign_id == cid)).all()
        return [tuple(r) for r in rows]


async def wait_until(predicate, timeout: float, every: float = 0.05):
    """Poll *predicate* (no fixed sleeps: returns as soon as it holds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def max_overlap(intervals) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak
