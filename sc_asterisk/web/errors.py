"""Errors as JSON: ``{"error": "<one line that names the fix>"}``, the CLI's own words.

A domain error (ScError) is a 400, a missing object a 404; a request FastAPI cannot parse is a
422 whose line names the field.
"""
from __future__ import annotations

from typing import Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.exc import OperationalError

from ..errors import NotFound, ScError


def fail(status: int, message: str, fix: str | None = None, headers: dict | None = None):
    """Raise an HTTP error whose body is one line. Example: ``fail(403, "role analyst ...")``"""
    raise HTTPException(status, ScError(message, fix).one_line(), headers=headers)


# (request, status, line) -> the console's HTML error page
HtmlError = Callable[[Request, int, str], Response]


def install(app: FastAPI, html: HtmlError | None = None) -> None:
    """Register the handlers that turn every error into one JSON line (under ``/api/``) or,
    with *html*, the console's error page (elsewhere)."""

    def answer(request: Request, status: int, line: str, headers: dict | None = None):
        if html is not None and not request.url.path.startswith("/api/"):
            return html(request, status, line)
        return _error(status, line, headers)

    @app.exception_handler(ScError)
    async def domain(request: Request, exc: ScError) -> Response:
        return answer(request, 404 if isinstance(exc, NotFound) else 400, exc.one_line())

    @app.exception_handler(StarletteHTTPException)    # fastapi's and the router's own 404/405
    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return answer(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query",
                                                                          "path"))
        message = str(first.get("msg", "invalid request")).replace("\n", " ")
        return _error(422, f"bad {where or 'request'}: {message} (see /api/v1/openapi.json)")

    @app.exception_handler(OperationalError)
    async def database(_request: Request, exc: OperationalError) -> JSONResponse:
        reason = (str(getattr(exc, "orig", exc) or exc).strip().splitlines() or ["?"])[0]
        return _error(503, f"database error: {reason} (check that the database is reachable, "
                           "then try again)")


def _error(status: int, line: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": line}, status_code=status, headers=headers)
