"""Audio prompts: list, upload (the request body is the file: any format ffmpeg reads, as
``audio import``), listen (the stored 8 kHz WAV, streamed)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ...audio import get_asset, import_audio, list_assets, validate_name
from ...contacts.audit import record_audit
from ...users.roles import Permission
from ..auth import Principal, require
from ..uploads import receive_file

router = APIRouter(prefix="/audio", tags=["audio"])
READ = Depends(require(Permission.CAMPAIGN_READ))
# An upload larger than this is refused before it is read to the end (a 10-minute WAV at
# 48 kHz stereo 16-bit is ~110 MB; compressed formats are far smaller).
MAX_UPLOAD_BYTES = 128 * 1024 * 1024


class AudioOut(BaseModel):
    name: str
    duration_ms: int
    sha256: str
    source_filename: str | None = None


def _out(asset) -> AudioOut:
    return AudioOut(name=asset.name, duration_ms=asset.duration_ms, sha256=asset.sha256,
                    source_filename=asset.source_filename)


@router.get("", response_model=list[AudioOut])
def list_audio(request: Request, _who: Principal = READ):
    """Every prompt, by name."""
    with request.app.state.db.session() as s:
        return [_out(a) for a in list_assets(s)]


@router.put("/{name}", response_model=AudioOut, status_code=201,
            openapi_extra={"requestBody": {"required": True,
                                           "content": {"application/octet-stream": {}}}})
async def upload_audio(name: str, request: Request,
                       filename: str = Query("upload", max_length=200,
                                             description="the original file's name"),
                       replace: bool = False,
                       who: Principal = Depends(require(Permission.CAMPAIGN_EDIT))):
    """Store the request body as the prompt *name*, converted to 8 kHz mono (``audio import
    FILE --name NAME``); other content under a taken name needs ``replace=true``. Audited."""
    validate_name(name)                       # before reading the body
    with tempfile.TemporaryDirectory(prefix="sc-audio-") as tmp:
        path = Path(tmp) / (Path(filename).name or "upload")
        await receive_file(request, path, MAX_UPLOAD_BYTES,
                           "curl -X PUT --data-binary @message.mp3")

        def store():
            with request.app.state.db.session() as s:
                asset = import_audio(s, path, name, replace=replace)
                record_audit(s, "audio-import", None, {"audio": name}, who.actor)
                return _out(asset)
        return await run_in_threadpool(store)


@router.get("/{name}.wav", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
def listen_audio(name: str, request: Request, _who: Principal = READ) -> Response:
    """The stored prompt as played to callees (mono 16-bit 8 kHz WAV)."""
    with request.app.state.db.session() as s:
        data = bytes(get_asset(s, name).data)
    return Response(data, media_type="audio/wav",
                    headers={"Content-Disposition": f'inline; filename="{name}.wav"'})
