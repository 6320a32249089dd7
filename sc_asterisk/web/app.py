"""The ASGI application: ``/api/v1`` and the console's pages behind authentication (the
OpenAPI document included); only ``/login`` and ``/static/`` are open.

Example::

    app = create_app(Database(url), load_key(settings, db))
    uvicorn.run(app, host="127.0.0.1", port=8080)
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..db import Database
from . import errors, pages
from .api import audio, campaigns, cdr, contacts, session, telecom, users
from .auth import Principal, principal
from .imports import ImportJobs
from .live import LiveCache, RetentionCache

API = "/api/v1"
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


def create_app(db: Database, key: str, *, secure_cookies: bool = True,
               live_every: float = 1.0) -> FastAPI:
    """The web application on *db*, with the installation *key* (pseudonyms of exports).

    *secure_cookies*: session cookies carry the Secure flag (and the ``__Host-`` prefix);
    turned off only for plain HTTP on a trusted network.
    """
    app = FastAPI(title="sc-asterisk", version=__version__, openapi_url=None, docs_url=None,
                  redoc_url=None,
                  description="Voice-broadcast campaigns: the HTTP API. Authenticate with "
                              "`Authorization: Bearer sct_...` or a session cookie (POST "
                              f"{API}/session) plus `X-CSRF-Token` on unsafe methods.")
    app.state.db, app.state.key = db, key
    app.state.secure_cookies = secure_cookies
    app.state.live = LiveCache(every=live_every)
    app.state.retention = RetentionCache()
    app.state.imports = ImportJobs()
    app.state.node_states = {}          # name -> (monotonic time, state): api/telecom.py
    errors.install(app, html=pages.error_page)
    api = APIRouter(prefix=API)
    for module in (session, campaigns, audio, contacts, telecom, cdr, users):
        api.include_router(module.router)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi(_who: Principal = Depends(principal)) -> dict:
        return app.openapi()

    app.include_router(api)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")),
              name="static")

    @app.exception_handler(pages.LoginRequired)
    async def to_login(_request: Request, _exc: pages.LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.middleware("http")
    async def no_store(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # pages load only their own script and style: no inline code, no framing
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
