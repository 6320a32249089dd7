"""The HTTP API's access rules through HTTP: no anonymous access (401), each role refused
everything it must not reach (403, nothing written), CSRF on cookie sessions, bearer tokens
revocable and stored as digests only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from conftest import PASSWORD
from sc_asterisk.db import AudioAsset, Campaign, Contact
from sc_asterisk.db.models_privacy import AuditEntry, SuppressionEntry
from sc_asterisk.db.models_web import ApiToken, WebSession, WebUser
from sc_asterisk.users.roles import ROLES
from sc_asterisk.users.tokens import revoke_token

EVERYONE = set(ROLES)
CAMPAIGN_READERS = {"operator", "analyst", "admin"}
OPERATORS = {"operator", "admin"}
ANALYSTS = {"analyst", "admin"}
ENGINEERS = {"engineer", "admin"}

# Who may reach what, written from the issue's role list (not read from users/roles.py):
# (method, path, roles allowed).
MATRIX = [
    ("GET", "/api/v1/me", EVERYONE),
    ("GET", "/api/v1/openapi.json", EVERYONE),
    ("GET", "/api/v1/campaigns", CAMPAIGN_READERS),
    ("POST", "/api/v1/campaigns", OPERATORS),
    ("POST", "/api/v1/campaigns/muni/queue", OPERATORS),
    ("GET", "/api/v1/campaigns/muni", CAMPAIGN_READERS),
    ("GET", "/api/v1/campaigns/muni/status", CAMPAIGN_READERS),
    ("GET", "/api/v1/campaigns/muni/events?limit=1", CAMPAIGN_READERS),
    ("GET", "/api/v1/campaigns/done/report", ANALYSTS),
    ("GET", "/api/v1/campaigns/done/retention.png", ANALYSTS),
    ("POST", "/api/v1/campaigns/muni/start", OPERATORS),
    ("POST", "/api/v1/campaigns/muni/pause", OPERATORS),
    ("POST", "/api/v1/campaigns/muni/resume", OPERATORS),
    ("POST", "/api/v1/campaigns/muni/cancel", OPERATORS),
    ("GET", "/api/v1/audio", CAMPAIGN_READERS),
    ("PUT", "/api/v1/audio/jingle", OPERATORS),
    ("GET", "/api/v1/audio/msg.wav", CAMPAIGN_READERS),
    ("POST", "/api/v1/contacts/imports", OPERATORS),
    ("GET", "/api/v1/contacts/imports/feedc0de", OPERATORS),
    ("GET", "/api/v1/contacts/imports/feedc0de/rejects.csv", OPERATORS),
    ("POST", "/api/v1/contacts/lookup", OPERATORS),
    ("POST", "/api/v1/contacts/export", {"admin"}),
    ("POST", "/api/v1/contacts/erase", {"admin"}),
    ("POST", "/api/v1/suppressions", OPERATORS),
    ("POST", "/api/v1/suppressions/check", OPERATORS),
    ("POST", "/api/v1/suppressions/import", OPERATORS),
    ("GET", "/api/v1/nodes", ENGINEERS),
    ("GET", "/api/v1/nodes/paris-1", ENGINEERS),
    ("GET", "/api/v1/nodes/paris-1/state", ENGINEERS),
    ("POST", "/api/v1/nodes/paris-1/check", ENGINEERS),
    ("GET", "/api/v1/trunks", ENGINEERS),
    ("GET", "/api/v1/trunks/acme/state", ENGINEERS),
    ("POST", "/api/v1/trunks/acme/test", ENGINEERS),
    ("GET", "/api/v1/trunks/acme", ENGINEERS),
    ("GET", "/api/v1/cdr", ANALYSTS),
    ("GET", "/api/v1/cdr?clear=true", {"admin"}),
    ("DELETE", "/api/v1/session", EVERYONE),
    ("GET", "/api/v1/users", {"admin"}),
    ("POST", "/api/v1/users", {"admin"}),
    ("DELETE", "/api/v1/users/analyst", {"admin"}),
    ("GET", "/api/v1/tokens", {"admin"}),
    ("POST", "/api/v1/users/analyst/tokens", {"admin"}),
    ("DELETE", "/api/v1/tokens/0123456789abcdef", {"admin"}),
]
# Reached without logging in: only the login itself.
ANONYMOUS = {("POST", "/api/v1/session")}


def _template(path: str) -> str:
    parts = path.split("?")[0].split("/")
    names = {"muni", "done", "paris-1", "acme", "jingle"}
    named = {"analyst": "{username}", "0123456789abcdef": "{token_id}", "msg.wav": "{name}.wav",
             "feedc0de": "{job_id}"}
    return "/".join("{name}" if p in names else named.get(p, p) for p in parts)


def _snapshot(env):
    with env.db.session() as s:
        return (s.scalar(select(func.count()).select_from(AuditEntry)),
                sorted(s.execute(select(Campaign.name, Campaign.status)).all()),
                sorted(s.scalars(select(WebUser.username))),
                s.scalar(select(func.count()).select_from(ApiToken)),
                sorted(s.scalars(select(AudioAsset.name))),
                s.scalar(select(func.count()).select_from(Contact)),
                s.scalar(select(func.count()).select_from(SuppressionEntry)))


def test_the_matrix_covers_every_route_of_the_api(shared_web):
    document = shared_web.client("admin").get("/api/v1/openapi.json").json()
    routes = {(method.upper(), path) for path, item in document["paths"].items()
              for method in item} | {("GET", "/api/v1/openapi.json")}
    covered = {(m, _template(p)) for m, p, _ in MATRIX} | ANONYMOUS
    assert routes == covered


@pytest.mark.parametrize("method,path,_roles", MATRIX)
def test_no_anonymous_access(shared_web, method, path, _roles):
    before = _snapshot(shared_web)
    response = shared_web.client().request(method, path)
    assert response.status_code == 401
    assert list(response.json()) == ["error"] and "\n" not in response.json()["error"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert _snapshot(shared_web) == before


@pytest.mark.parametrize("method,path,allowed", MATRIX)
def test_each_role_is_refused_what_it_must_not_reach(shared_web, method, path, allowed):
    before = _snapshot(shared_web)
    for role in sorted(EVERYONE - allowed):
        response = shared_web.client(role).request(method, path)
        assert response.status_code == 403, (role, response.text)
        assert f"role {role} may not" in response.json()["error"]
    assert _snapshot(shared_web) == before          # nothing written, not even an audit entry


@pytest.mark.parametrize("method,path,allowed",
                         [row for row in MATRIX if row[0] == "GET"])
def test_each_role_reaches_what_it_may_read(shared_web, method, path, allowed):
    for role in sorted(allowed):
        response = shared_web.client(role).request(method, path)
        # a node or trunk that does not exist is a 404: the role got past the check
        assert response.status_code in (200, 404), (role, response.text)


def test_bad_or_revoked_tokens_are_401(web):
    client = web.client()
    for header in ("Bearer nope", "Basic dXNlcjpwYXNz", "Bearer " + web.tokens["admin"][:-1] + "x"):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
    with web.db.session() as s:
        revoke_token(s, web.tokens["admin"].split("_")[1])
    assert web.client("admin").get("/api/v1/me").status_code == 401
    assert web.client("analyst").get("/api/v1/me").status_code == 200


def test_tokens_are_stored_as_digests_only(web):
    with web.db.session() as s:
        stored = [(t.token_id, t.digest) for t in s.scalars(select(ApiToken))]
    secrets = [token.split("_", 2)[2] for token in web.tokens.values()]
    assert len(stored) == len(secrets)
    assert not any(secret in digest or secret == token_id
                   for secret in secrets for token_id, digest in stored)


def login(client, username="operator", password=PASSWORD):
    return client.post("/api/v1/session", json={"username": username, "password": password})


def test_login_sets_a_secure_httponly_samesite_cookie(web):
    response = login(web.client())
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-sc_session=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag in cookie
    assert len(response.json()["csrf_token"]) == 64


def test_plain_http_cookies_only_when_asked(web):
    cookie = login(web.client(secure_cookies=False)).headers["set-cookie"]
    assert cookie.startswith("sc_session=") and "Secure" not in cookie and "HttpOnly" in cookie


def test_wrong_password_or_user_is_401_and_opens_no_session(web):
    client = web.client()
    for user, password in (("operator", "wrong password!"), ("nobody", PASSWORD)):
        response = login(client, user, password)
        assert response.status_code == 401
        assert response.json() == {"error": "wrong user name or password (check both, or ask "
                                   "an admin (sc-asterisk user add NAME --role ROLE))"}
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


def test_csrf_is_required_on_unsafe_methods_of_a_cookie_session(web):
    client = web.client()
    csrf = login(client).json()["csrf_token"]
    assert client.get("/api/v1/campaigns/muni").status_code == 200    # safe: no token needed
    before = _snapshot(web)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
        response = client.post("/api/v1/campaigns/muni/start", headers=headers)
        assert response.status_code == 403
        assert response.json()["error"].startswith("missing or wrong CSRF token")
    assert _snapshot(web) == before
    response = client.post("/api/v1/campaigns/muni/start", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.json()["status"] == "running"


def test_a_bearer_token_needs_no_csrf_token(web):
    response = web.client("operator").post("/api/v1/campaigns/muni/pause")
    assert response.status_code == 400                 # past auth: a draft cannot be paused
    response = web.client("operator").post("/api/v1/campaigns/muni/start")
    assert response.status_code == 200


def test_logout_needs_the_csrf_token_then_ends_the_session(web):
    client = web.client()
    csrf = login(client).json()["csrf_token"]
    assert client.delete("/api/v1/session").status_code == 403
    assert client.get("/api/v1/me").status_code == 200
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    client.cookies.clear()
    assert client.get("/api/v1/me").status_code == 401


def test_an_expired_session_is_401(web):
    client = web.client()
    login(client)
    with web.db.session() as s:
        s.execute(update(WebSession).values(
            expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"].startswith("session expired or logged out")


def test_a_session_cookie_from_another_server_is_401(web):
    client = web.client()
    client.cookies.set("__Host-sc_session", "forged", domain="testserver")
    assert client.get("/api/v1/me").status_code == 401


def test_logins_and_logouts_are_audited_with_the_user(web):
    client = web.client()
    csrf = login(client, "analyst").json()["csrf_token"]
    client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    with web.db.session() as s:
        rows = s.execute(select(AuditEntry.actor, AuditEntry.action)
                         .where(AuditEntry.action.in_(("login", "logout")))).all()
    assert rows == [("web:analyst", "login"), ("web:analyst", "logout")]
