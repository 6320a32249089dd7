"""Campaigns: create, queue the audience, list, show, live status, report, and the lifecycle
(start, pause, resume, cancel), through the functions the CLI calls (``dialer.campaigns``,
``dialer.audience``, ``dialer.lifecycle``)."""
from __future__ import annotations

import asyncio
import io
import time
from datetime import date, timezone

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...contacts.audit import record_audit
from ...dialer.audience import queue_audience
from ...dialer.campaigns import campaign_page, create_campaign, get_campaign
from ...dialer.lifecycle import set_status
from ...dialer.retries import policy_from_options
from ...reports import campaign_figures
from ...reports.options import parse_zone
from ...reports.render import plot_retention
from ...users.roles import Permission
from ..auth import Principal, principal, require
from ..schemas import (CampaignDetail, CampaignIn, CampaignSummary, LiveStatus, Page, QueueIn,
                       QueueOut, Segment, StatusChange)

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


@router.post("", response_model=CampaignDetail, status_code=201)
def create_campaign_(body: CampaignIn, request: Request,
                     who: Principal = Depends(require(Permission.CAMPAIGN_EDIT))):
    """Create a draft campaign (the checks of ``campaign create``: profile, caller ID, windows,
    retries, audio names); audited."""
    policy = policy_from_options(body.retries, body.no_retry)
    settings = body.model_dump(exclude={"name", "message", "notice", "optout_intro",
                                        "optout_confirm", "voicemail", "compliance_profile",
                                        "windows", "retries", "no_retry"})
    with request.app.state.db.session() as s:
        create_campaign(s, body.name, message=body.message, notice=body.notice,
                        optout_intro=body.optout_intro, optout_confirm=body.optout_confirm,
                        voicemail=body.voicemail, compliance_profile=body.compliance_profile,
                        windows="\n".join(body.windows) or None,
                        retry_policy=policy.to_json(), **settings)
        record_audit(s, "campaign-create", None, {"campaign": body.name}, who.actor)
    return show_campaign(body.name, request, who)


@router.post("/{name}/queue", response_model=QueueOut)
def queue_campaign(name: str, body: QueueIn, request: Request,
                   who: Principal = Depends(require(Permission.CAMPAIGN_EDIT))):
    """Queue one attempt per contact of the audience (``campaign queue``); who was left out
    and why. ``dry_run``: the same counts, nothing queued. Audited unless a dry run."""
    with request.app.state.db.session() as s:
        result = queue_audience(s, name, body.where, key=request.app.state.key,
                                today=date.today(), min_age_default=body.min_age,
                                max_address_age=body.max_address_age)
        if body.dry_run:
            s.rollback()
        else:
            record_audit(s, "campaign-queue", None, {
                "campaign": name, "where": body.where, "queued": result.queued}, who.actor)
    return QueueOut(name=name, matched=result.matched, queued=result.queued,
                    excluded=dict(result.excluded), address_cutoff=result.address_cutoff,
                    dry_run=body.dry_run)


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


@router.get("/{name}/retention.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def campaign_retention(name: str, request: Request,
                       min_listen_s: int = Query(10, ge=1, le=3600),
                       _who: Principal = Depends(require(Permission.REPORT_READ))) -> Response:
    """The retention curve of ``report NAME --plot`` as a PNG: % of answered callees still
    listening at each second of the script. Drawn again at most every 30 s (or ten times
    what drawing it cost): the live page shows it while the campaign runs."""
    def draw() -> bytes:
        figures = campaign_figures(request.app.state.db, request.app.state.key, name,
                                   min_listen_s=min_listen_s)
        png = io.BytesIO()
        plot_retention(figures, png)
        return png.getvalue()
    return Response(request.app.state.retention.get((name, min_listen_s), draw),
                    media_type="image/png")


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
