"""Campaigns: list, show, live status, report, and the lifecycle (start, pause, resume,
cancel) through ``dialer.lifecycle.set_status``, the CLI's own path."""
from __future__ import annotations

import asyncio
import time
from datetime import timezone

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...dialer.campaigns import campaign_page, get_campaign
from ...dialer.lifecycle import set_status
from ...reports import campaign_figures
from ...reports.options import parse_zone
from ...users.roles import Permission
from ..auth import Principal, principal, require
from ..schemas import CampaignDetail, CampaignSummary, LiveStatus, Page, Segment, StatusChange

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
READ = Depends(require(Permission.CAMPAIGN_READ))
CONTROL = require(Permission.CAMPAIGN_CONTROL)

# Each lifecycle route and the status it asks for (the state machine, dialer/states.py, says
# whether the campaign may go there).
# How often a live stream checks that its login still holds.
RECHECK_LOGIN_S = 30.0
ACTIONS = {"start": "running", "pause": "paused", "resume": "running", "cancel": "cancelled"}


def _summary(c) -> dict:
    created = c.created_at if c.created_at.tzinfo else c.created_at.replace(tzinfo=timezone.utc)
    return dict(name=c.name, status=c.status, trunk=c.trunk, cps=c.cps,
                max_channels=c.max_channels, compliance_profile=c.compliance_profile,
                created_at=created)


@router.get("", response_model=Page[CampaignSummary])
def list_campaigns(request: Request, limit: int = Query(50, ge=1, le=500),
                   offset: int = Query(0, ge=0), _who: Principal = READ):
    """Campaigns, oldest first, a page at a time."""
    with request.app.state.db.session() as s:
        rows, total = campaign_page(s, limit, offset)
        items = [CampaignSummary(**_summary(c)) for c in rows]
    return Page[CampaignSummary](items=items, total=total, limit=limit, offset=offset)


@router.get("/{name}", response_model=CampaignDetail)
def show_campaign(name: str, request: Request, _who: Principal = READ):
    """A campaign's settings and script."""
    with request.app.state.db.session() as s:
        c = get_campaign(s, name)
        return CampaignDetail(
            **_summary(c), caller_id=c.caller_id, optout_digit=c.optout_digit,
            ring_timeout_s=c.ring_timeout_s, windows=(c.windows or "").splitlines(),
            amd_policy=c.amd_policy,
            segments=[Segment(position=seg.position, role=seg.role, audio=seg.asset.name)
                      for seg in c.segments])


@router.get("/{name}/status", response_model=LiveStatus)
def campaign_status(name: str, request: Request, _who: Principal = READ):
    """Live figures: attempts by state, outcomes, answered, opt-outs (shared by every viewer,
    recomputed at most once a second)."""
    return request.app.state.live.get(request.app.state.db, name)


@router.get("/{name}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def campaign_events(name: str, request: Request,
                          every: float = Query(1.0, ge=0.5, le=60, description="seconds"),
                          limit: int | None = Query(None, ge=1, description="events, then end"),
                          _who: Principal = READ) -> StreamingResponse:
    """The live figures as server-sent events (``event: status``, data: the status JSON),
    every *every* seconds, for as long as the client listens and its login holds."""
    live, db = request.app.state.live, request.app.state.db
    first = await run_in_threadpool(live.get, db, name)     # 404 before the stream starts

    async def events():
        figures, sent, checked = first, 0, time.monotonic()
        while True:
            yield f"event: status\ndata: {LiveStatus(**figures).model_dump_json()}\n\n"
            sent += 1
            if limit is not None and sent >= limit:
                return
            await asyncio.sleep(every)
            if await request.is_disconnected():
                return
            if time.monotonic() - checked >= RECHECK_LOGIN_S:
                try:       # logged out, session expired or token revoked: the stream ends
                    await run_in_threadpool(principal, request)
                except HTTPException:
                    return
                checked = time.monotonic()
            figures = await run_in_threadpool(live.get, db, name)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


@router.get("/{name}/report")
def campaign_report(name: str, request: Request,
                    min_listen_s: int = Query(10, ge=1, le=3600), tz: str = "UTC",
                    _who: Principal = Depends(require(Permission.REPORT_READ))) -> dict:
    """The report's figures (those of ``sc-asterisk report NAME --json``), each computed from
    the rows the CDR export writes."""
    return campaign_figures(request.app.state.db, request.app.state.key, name,
                            min_listen_s=min_listen_s, tz=parse_zone(tz))


def _lifecycle_route(action: str, status: str) -> None:
    def change(name: str, request: Request, who: Principal = Depends(CONTROL)) -> StatusChange:
        new = set_status(request.app.state.db, name, status, actor=who.actor)
        return StatusChange(name=name, status=str(new))
    change.__name__ = f"{action}_campaign"
    change.__doc__ = f"{action.capitalize()} the campaign (it becomes {status}); takes effect " \
                     "before the next originate, calls in progress finish. Audited."
    router.post(f"/{{name}}/{action}", response_model=StatusChange)(change)


for _action, _status in ACTIONS.items():
    _lifecycle_route(_action, _status)
