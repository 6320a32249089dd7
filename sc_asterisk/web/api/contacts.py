"""Contacts and suppression: import a file (a job whose progress is polled, its refused rows
a CSV to download), look a number up, a person's export and erasure, suppress a number,
check one, import a do-not-call file; through the CLI's functions (``contacts.*``).

Numbers travel in request bodies, never in URLs: the access log prints paths and queries.
"""
from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ...contacts import ImportOptions, SuppressionStore
from ...contacts.subject import describe_contact, erase_subject, export_subject
from ...contacts.audit import record_audit
from ...contacts.mapping import LEGAL_BASES, parse_mapping_options
from ...users.roles import Permission
from ..auth import Principal, require
from ..errors import fail
from ..schemas import ImportJobOut, NumberIn, SuppressIn, SuppressionOut
from ..uploads import receive_file

router = APIRouter(tags=["contacts"])
EDIT = require(Permission.CONTACT_EDIT)
RIGHTS = require(Permission.SUBJECT_RIGHTS)
MAX_FILE_BYTES = 512 * 1024 * 1024


@router.post("/contacts/imports", response_model=ImportJobOut, status_code=202,
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/octet-stream": {}}}})
async def start_import(request: Request,
                       filename: str = Query(..., max_length=200, pattern=r"\.(csv|xlsx)$",
                                             description="the file's name (.csv or .xlsx)"),
                       list_name: str | None = Query(None, alias="list", max_length=100),
                       source: str | None = Query(None, max_length=200),
                       legal_basis: str | None = Query(None, description="one of: " + ", ".join(LEGAL_BASES)),
                       mapping: list[str] = Query([], description="COLUMN=FIELD, repeatable"),
                       region: str = Query("FR", pattern="^[A-Z]{2}$"),
                       encoding: str | None = Query(None, max_length=40),
                       address_date: date | None = None,
                       who: Principal = Depends(EDIT)) -> ImportJobOut:
    """Import a contact file (the body), as ``contacts import``: bad rows are refused, never
    half-imported; the same file again changes nothing. Answers at once with a job to poll
    (``GET /contacts/imports/ID``); the file is checked (format, columns) before that."""
    if legal_basis is not None and legal_basis not in LEGAL_BASES:
        fail(400, f"unknown legal basis {legal_basis!r}", "use one of: " + ", ".join(LEGAL_BASES))
    options = ImportOptions(list_name=list_name, source=source, legal_basis=legal_basis,
                            region=region, encoding=encoding,
                            mapping=parse_mapping_options(tuple(mapping)),
                            address_date=address_date, actor=who.actor)
    jobs = request.app.state.imports
    job = jobs.new(who.username, filename)
    try:
        await receive_file(request, job.upload, MAX_FILE_BYTES,
                           "curl --data-binary @liste.csv")
        await run_in_threadpool(jobs.start, job, request.app.state.db, request.app.state.key,
                                options)
    except BaseException:
        jobs.discard(job)
        raise
    with request.app.state.db.session() as s:
        record_audit(s, "contacts-import", None, {"file": job.file_name, "list": list_name},
                     who.actor)
    return ImportJobOut(**job.view())


def _job(request: Request, job_id: str):
    job = request.app.state.imports.get(job_id)
    if job is None:
        fail(404, f"no import job {job_id!r} in this web process",
             "start the import again (the same file changes nothing)")
    return job


@router.get("/contacts/imports/{job_id}", response_model=ImportJobOut)
def import_progress(job_id: str, request: Request, _who: Principal = Depends(EDIT)):
    """An import's progress (bytes read of the file) and, once complete, what it did."""
    return ImportJobOut(**_job(request, job_id).view())


@router.get("/contacts/imports/{job_id}/rejects.csv", response_class=FileResponse,
            responses={200: {"content": {"text/csv": {}}}})
def import_rejects(job_id: str, request: Request, who: Principal = Depends(EDIT)):
    """The refused rows (line, reason, the row's cells) of a complete import. Audited."""
    job = _job(request, job_id)
    if job.state != "complete" or not job.view()["rejects"]:
        fail(404, f"import job {job_id} has no rejected rows"
             + ("" if job.state == "complete" else " yet"), "poll the job until it is complete")
    with request.app.state.db.session() as s:
        record_audit(s, "contacts-rejects-download", None, {"file": job.file_name}, who.actor)
    return FileResponse(job.rejects, media_type="text/csv; charset=utf-8",
                        filename="rejects.csv", headers={"Cache-Control": "no-store"})


@router.post("/contacts/lookup")
def show_contact(body: NumberIn, request: Request, _who: Principal = Depends(EDIT)) -> dict:
    """What is held about a number (``contacts show``): the contact, its provenance, its
    suppression; ``contact`` is null when none is held."""
    with request.app.state.db.session() as s:
        return describe_contact(s, request.app.state.key, body.number, body.region)


@router.post("/contacts/export")
def subject_export(body: NumberIn, request: Request, who: Principal = Depends(RIGHTS)) -> dict:
    """Everything held about a person, as ``subject-export`` writes it (GDPR art. 15). Audited."""
    with request.app.state.db.session() as s:
        return export_subject(s, request.app.state.key, body.number, body.region,
                              actor=who.actor)


@router.post("/contacts/erase")
def erase(body: NumberIn, request: Request, who: Principal = Depends(RIGHTS)) -> dict:
    """Erase a person (``erase``, GDPR art. 17): contact and provenance deleted, call records
    pseudonymised, pending attempts cancelled, the number suppressed for good. Audited."""
    with request.app.state.db.session() as s:
        report = erase_subject(s, request.app.state.key, body.number, body.region,
                               actor=who.actor)
        return {"contact_deleted": report.contact_deleted,
                "provenance_deleted": report.provenance_deleted,
                "attempts_pseudonymised": report.attempts_pseudonymised,
                "attempts_cancelled": report.attempts_cancelled}


def _suppression(check) -> SuppressionOut:
    entry = check.entry
    return SuppressionOut(suppressed=entry is not None, reason=entry.reason if entry else None,
                          since=entry.created_at if entry else None,
                          source=entry.source if entry else None)


@router.post("/suppressions", response_model=SuppressionOut)
def suppress(body: SuppressIn, request: Request, who: Principal = Depends(EDIT)):
    """Suppress one number (``suppress add``); ``already`` says it was suppressed before.
    Audited."""
    with request.app.state.db.session() as s:
        before, _entry = SuppressionStore(s, request.app.state.key).add_typed(
            body.number, body.reason, who.actor, body.region)
        record_audit(s, "suppress-add", None, {"reason": body.reason}, who.actor)
        out = _suppression(SuppressionStore(s, request.app.state.key).check(body.number,
                                                                            body.region))
        out.already = before.entry is not None
        return out


@router.post("/suppressions/check", response_model=SuppressionOut)
def check(body: NumberIn, request: Request, _who: Principal = Depends(EDIT)):
    """Is this number suppressed (``suppress check``)?"""
    with request.app.state.db.session() as s:
        return _suppression(SuppressionStore(s, request.app.state.key).check(body.number,
                                                                             body.region))


@router.post("/suppressions/import",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/octet-stream": {}}}})
async def import_suppressions(request: Request,
                              filename: str = Query("list.csv", max_length=200,
                                                    pattern=r"\.(csv|txt|xlsx)$"),
                              reason: str = Query("do-not-call", min_length=1, max_length=200),
                              source: str | None = Query(None, max_length=200),
                              region: str = Query("FR", pattern="^[A-Z]{2}$"),
                              encoding: str | None = Query(None, max_length=40),
                              who: Principal = Depends(EDIT)) -> dict:
    """Suppress every number of a do-not-call file (the body; ``suppress import``): invalid
    lines are counted and skipped. Audited."""
    with tempfile.TemporaryDirectory(prefix="sc-suppress-") as tmp:
        path = Path(tmp) / Path(filename).name
        await receive_file(request, path, MAX_FILE_BYTES, "curl --data-binary @opposition.csv")

        def store() -> dict:
            with request.app.state.db.session() as s:
                summary = SuppressionStore(s, request.app.state.key).import_file(
                    path, reason=reason, source=source or f"{who.actor}:{path.name}",
                    region=region, encoding=encoding)
                record_audit(s, "suppress-import", None, {
                    "file": path.name, "added": summary.added}, who.actor)
            return {"added": summary.added, "already": summary.already,
                    "rejected": dict(summary.rejected)}
        return await run_in_threadpool(store)
