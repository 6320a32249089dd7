"""Receiving a file as a request's body: streamed to disk with a size cap, never held in
memory; an empty or oversized body is one line naming the fix."""
from __future__ import annotations

from pathlib import Path

from fastapi import Request

from .errors import fail


async def receive_file(request: Request, path: Path, max_bytes: int, example: str) -> int:
    """Write *request*'s body to *path*; returns its size. *example*: how to send one
    (shown when the body is empty). Example:
    ``await receive_file(request, tmp / "a.wav", 2**27, "curl --data-binary @a.wav")``
    """
    too_big = (f"upload over {max_bytes // 2**20} MB",
               "split the file, or use the CLI on the server for larger files")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        fail(413, *too_big)
    size = 0
    with open(path, "wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                fail(413, *too_big)
            out.write(chunk)
    if size == 0:
        fail(400, "empty upload", f"send the file as the request body ({example})")
    return size
