"""The console's pages, server-rendered (Jinja2), over the same services and permissions as
the API. A page asked for without a login sends the browser to ``/login``; the live counters
come from the API's server-sent events and the buttons call the API with the CSRF token (a
small script, ``static/console.js``: no build chain)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from ..audio import list_assets
from ..dialer.campaigns import PROFILES, campaign_page, get_campaign
from ..reports import campaign_figures
from ..contacts.mapping import LEGAL_BASES
from ..telecom.nodes import list_nodes
from ..telecom.trunks import list_trunks
from ..users.roles import Permission, allowed
from .auth import (Principal, check_same_origin, principal, set_session_cookie,
                   start_session)
from .errors import fail
from .i18n import labels, language

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
PAGE_SIZE = 25


class LoginRequired(Exception):
    """A page asked for without a (valid) login: the browser goes to /login."""


def viewer(request: Request, permission: Permission) -> Principal:
    """The logged-in user, if their role holds *permission* (403 page otherwise)."""
    try:
        who = principal(request)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired() from None
        raise
    if not allowed(who.role, permission):
        fail(403, f"role {who.role} may not {permission.value}",
             "ask an admin for a role that may (sc-asterisk user list)")
    return who


# The console's sections, each shown to the roles that may use it.
NAV = (("/", "campaigns", Permission.CAMPAIGN_READ), ("/contacts", "contacts", Permission.CONTACT_EDIT),
       ("/telecom", "telecom", Permission.TELECOM_READ), ("/cdr", "cdr_export", Permission.CDR_EXPORT))


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    who = context.get("who")
    nav = [(href, key) for href, key, need in NAV if who and allowed(who.role, need)]
    response = templates.TemplateResponse(request, template, {"t": labels(lang), "lang": lang,
                                                              "who": None, "nav": nav,
                                                              **context},
                                          status_code=status)
    if request.query_params.get("lang") == lang:
        response.set_cookie("sc_lang", lang, max_age=365 * 86400, path="/", samesite="lax")
    return response


def error_page(request: Request, status: int, line: str) -> HTMLResponse:
    """The console's error page: the same one line as the API's."""
    return render(request, "error.html", status=status, code=status, message=line)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html")


@router.post("/login")
async def login_form(request: Request) -> Response:
    check_same_origin(request)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    username = (fields.get("username") or [""])[0][:64]
    password = (fields.get("password") or [""])[0][:1024]
    started = await run_in_threadpool(start_session, request.app.state.db, username, password)
    if started is None:
        return render(request, "login.html", status=401, failed=True, username=username)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, started[1])
    return response


@router.get("/")
def campaigns_page(request: Request, page: int = Query(1, ge=1)) -> HTMLResponse:
    who = viewer(request, Permission.CAMPAIGN_READ)
    db, live = request.app.state.db, request.app.state.live
    with db.session() as s:
        rows, total = campaign_page(s, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        names = [c.name for c in rows]
    figures = [live.get(db, name) for name in names]
    return render(request, "campaigns.html", who=who, campaigns=figures, page=page,
                  may_edit=allowed(who.role, Permission.CAMPAIGN_EDIT),
                  pages=max(1, -(-total // PAGE_SIZE)))


@router.get("/campaigns/{name}")
def campaign_page_(name: str, request: Request) -> HTMLResponse:
    who = viewer(request, Permission.CAMPAIGN_READ)
    db = request.app.state.db
    with db.session() as s:
        c = get_campaign(s, name)
        script = [(seg.position, seg.role, seg.asset.name) for seg in c.segments]
        settings = {"cps": c.cps, "max_channels": c.max_channels}
    return render(request, "campaign.html", who=who, figures=request.app.state.live.get(db, name),
                  script=script, settings=settings,
                  may_control=allowed(who.role, Permission.CAMPAIGN_CONTROL),
                  may_edit=allowed(who.role, Permission.CAMPAIGN_EDIT),
                  may_report=allowed(who.role, Permission.REPORT_READ))


@router.get("/new")
def new_campaign_page(request: Request) -> HTMLResponse:
    """The create-campaign form: audio upload, the script, pacing; the audience is queued on
    the campaign's page (with its live count)."""
    who = viewer(request, Permission.CAMPAIGN_EDIT)
    with request.app.state.db.session() as s:
        audio = [(a.name, a.duration_ms) for a in list_assets(s)]
        trunk_names = [t.name for t in list_trunks(s)]
    return render(request, "new.html", who=who, audio=audio, trunks=trunk_names,
                  profiles=PROFILES)


@router.get("/campaigns/{name}/report")
def report_page(name: str, request: Request) -> HTMLResponse:
    """The campaign's report: figures, the retention curve, the CDR export's download links."""
    who = viewer(request, Permission.REPORT_READ)
    figures = campaign_figures(request.app.state.db, request.app.state.key, name)
    return render(request, "report.html", who=who, name=name, figures=figures,
                  may_export=allowed(who.role, Permission.CDR_EXPORT))


@router.get("/contacts")
def contacts_page(request: Request) -> HTMLResponse:
    """Contacts: import a file with a progress bar and the refused rows."""
    who = viewer(request, Permission.CONTACT_EDIT)
    return render(request, "contacts.html", who=who, legal_bases=list(LEGAL_BASES))


@router.get("/telecom")
def telecom_page(request: Request) -> HTMLResponse:
    """Nodes and trunks with their live state (asked of each node by the page's script)."""
    who = viewer(request, Permission.TELECOM_READ)
    with request.app.state.db.session() as s:
        node_rows = [(n.name, n.ami_host, n.ami_port, n.max_channels, n.enabled,
                      [t.name for t in n.trunks]) for n in list_nodes(s)]
        trunk_rows = [(t.name, t.host, t.port, t.transport, t.register,
                       [n.name for n in t.nodes]) for t in list_trunks(s)]
    return render(request, "telecom.html", who=who, nodes=node_rows, trunks=trunk_rows)


@router.get("/cdr")
def cdr_page(request: Request) -> HTMLResponse:
    """The CDR export: choose campaigns, period and format, download."""
    who = viewer(request, Permission.CDR_EXPORT)
    with request.app.state.db.session() as s:
        names = [c.name for c in campaign_page(s, 500, 0)[0]]
    return render(request, "cdr.html", who=who, campaigns=names,
                  may_clear=allowed(who.role, Permission.CDR_EXPORT_CLEAR))
