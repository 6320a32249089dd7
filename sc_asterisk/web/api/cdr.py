"""The CDR export as a streamed download (the CLI's ``cdr export``: same plan, same bytes).

Pseudonymised by default; clear numbers need the admin's permission. Every download is
audited with the user before its first byte.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ...reports import ExportOptions
from ...reports.export import plan_export, stream_export
from ...reports.options import parse_zone, row_filter
from ...users.roles import Permission, allowed
from ..auth import Principal, require
from ..errors import fail

router = APIRouter(tags=["cdr"])
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
         "parquet": "application/vnd.apache.parquet"}


@router.get("/cdr", response_class=StreamingResponse,
            responses={200: {"content": {m: {} for m in MEDIA.values()}}})
def export_cdr(request: Request,
               campaign: list[str] = Query([], description="only these campaigns (repeatable)"),
               since: str | None = Query(None, description="dialled at or after, ISO 8601"),
               until: str | None = Query(None, description="dialled before, ISO 8601"),
               format: Literal["csv", "jsonl", "parquet"] = "csv",
               fields: str | None = Query(None, description="only these columns: a,b,..."),
               clear: bool = Query(False, description="clear numbers (admin only; audited)"),
               excel: bool = False, tz: str = "UTC",
               who: Principal = Depends(require(Permission.CDR_EXPORT))) -> StreamingResponse:
    """One row per call attempt, streamed in constant memory."""
    if clear and not allowed(who.role, Permission.CDR_EXPORT_CLEAR):
        fail(403, f"role {who.role} may not export clear numbers",
             "drop clear=true for pseudonymised numbers, or ask an admin")
    zone = parse_zone(tz)
    options = ExportOptions(fmt=format, pseudonymise=not clear, excel=excel, tz=zone,
                            fields=tuple(f for f in (fields or "").split(",") if f))
    db = request.app.state.db
    # a console form sends its empty fields as empty strings: no bound
    plan = plan_export(db, row_filter([c for c in campaign if c], since or None, until or None,
                                      zone, ("since", "until")),
                       options, actor=who.actor, output="http", audit=True)
    return StreamingResponse(
        stream_export(db, request.app.state.key, plan), media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="cdr.{format}"',
                 "Cache-Control": "no-store"})
