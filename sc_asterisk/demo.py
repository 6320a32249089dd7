"""``sc-asterisk demo``: a real campaign on the lab, end to end.

Twenty fictional numbers (ARCEP's fiction range +33 1 99 00 xx xx) are routed to SIPp callees
whose behaviour is scripted per number; the controller dials them through the lab Asterisk and
measures what each callee heard. The table puts the measurement beside SIPp's ground truth.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from .audio import import_audio
from .db import CallAttempt, Contact, Database
from .dialer.campaigns import create_campaign, queue_contacts
from .dialer.retries import NO_RETRY
from .lab.instance import LabInstance
from .lab.root import ensure_root
from .lab.sipp import CalleePlan, Simulator
from .paths import SOUNDS_DIR
from .service import Controller

DEMO_LIST = "demo"


@dataclass(frozen=True)
class DemoCallee:
    number: str
    behaviour: str
    hold_ms: int = 0
    ring_ms: int = 800
    dtmf: str | None = None
    dtmf_at_ms: int | None = None


def demo_callees() -> list[DemoCallee]:
    """Mixed behaviours against the sample script (intro 4.2 s, message 23.0 s, notice 17.9 s):
    full listens, hang-ups during the message and during the notice, an opt-out by pressing 9,
    a stray digit that must not stop the message, busy, no answer, unavailable (503)."""
    plan = ([("answer", 50000, None)] * 4
            + [("answer", h, None) for h in (9000, 13000, 17000, 21000)]
            + [("answer", h, None) for h in (30000, 34000, 38000, 42000)]
            + [("dtmf", 50000, ("9", 8000)), ("dtmf", 50000, ("5", 8000))]
            + [("busy", 0, None)] * 2 + [("noanswer", 0, None)] * 2 + [("reject", 0, None)] * 2)
    return [DemoCallee(f"+331990000{i:02d}", b, h, 500 + 100 * (i % 8),
                       d[0] if d else None, d[1] if d else None)
            for i, (b, h, d) in enumerate(plan, start=1)]


def run_demo(db: Database, lab: LabInstance, workdir: Path, echo=print, mirror: str | None = None
             ) -> tuple[str, list[dict]]:
    """Provision and start the lab, load the demo campaign, run it; return the campaign's name
    and one row per call."""
    ensure_root(lab.root.parent, mirror=mirror, log=echo)
    node = lab.up()
    db.upgrade()
    callees = demo_callees()
    name = time.strftime("demo-%Y%m%d-%H%M%S")
    with db.session() as s:
        for prompt in ("optout-intro", "message", "notice", "optout-confirm"):
            import_audio(s, SOUNDS_DIR / f"{prompt}.wav", f"demo-{prompt}")
        campaign = create_campaign(s, name, message="demo-message", notice="demo-notice",
                                   optout_intro="demo-optout-intro",
                                   optout_confirm="demo-optout-confirm",
                                   max_channels=20, cps=5, ring_timeout_s=8,
                                   # simulated callees only: no legal window applies
                                   windows="always", retry_policy=NO_RETRY)
        ids = []
        for c in callees:
            contact = s.scalar(select(Contact).where(Contact.e164 == c.number))
            if contact is None:
                contact = Contact(e164=c.number, number_type="fixed_line",
                                  time_zone="Europe/Paris", list_name=DEMO_LIST,
                                  source="sc-asterisk demo: fictional numbers",
                                  legal_basis="consent")
                s.add(contact)
                s.flush()
            ids.append(contact.id)
        queue_contacts(s, campaign, ids)
    plan = CalleePlan()
    for c in callees:
        plan.add(c.number, c.behaviour, ring_ms=c.ring_ms, hold_ms=c.hold_ms, dtmf=c.dtmf,
                 dtmf_at_ms=c.dtmf_at_ms)
    echo(f"campaign {name}: dialing {len(callees)} simulated callees through {node.name}")
    with Simulator(plan, port=lab.ports.callees, workdir=workdir) as sim:
        asyncio.run(_run(db, node, name))
        truth = {t.number.lstrip("+"): t for t in sim.truth()}
    return name, _rows(db, name, truth)


async def _run(db: Database, node, name: str) -> None:
    async with Controller(db, node) as controller:
        await controller.run_campaign(name)


def _rows(db: Database, name: str, truth: dict) -> list[dict]:
    from .dialer.campaigns import get_campaign
    rows = []
    with db.session() as s:
        campaign = get_campaign(s, name)
        attempts = s.scalars(select(CallAttempt).where(CallAttempt.campaign_id == campaign.id)
                             .order_by(CallAttempt.number)).all()
        for a in attempts:
            seg = {sl.role: sl for sl in (a.record.segments if a.record else [])}
            t = truth.get(a.number.lstrip("+"))
            rows.append({
                "number": a.number, "outcome": a.record.outcome if a.record else a.state,
                **{f"{role}_ms": seg[role].listened_ms if role in seg else 0
                   for role in ("optout-intro", "message", "notice")},
                "opted_out": bool(a.record and a.record.opted_out),
                "callee_hung_up_after_ms": (round(t.end_ms - t.answer_ms)
                                            if t and t.answer_ms and t.ended_by == "callee" else None),
            })
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'number':<14} {'outcome':<12} {'intro ms':>9} {'message ms':>10} {'notice ms':>10}"
            f" {'opt-out':>7} {'SIPp BYE at':>12}")
    lines = [head, "-" * len(head)]
    for r in rows:
        bye = "" if r["callee_hung_up_after_ms"] is None else str(r["callee_hung_up_after_ms"])
        lines.append(f"{r['number']:<14} {r['outcome']:<12} {r['optout-intro_ms']:>9} "
                     f"{r['message_ms']:>10} {r['notice_ms']:>10} "
                     f"{'yes' if r['opted_out'] else '':>7} {bye:>12}")
    return "\n".join(lines)
