"""Users and tokens through the API (admin only): the CLI's rules and words, nothing
half-written on bad input, every change audited with the admin."""
from __future__ import annotations

from sqlalchemy import select

from conftest import PASSWORD
from sc_asterisk.db.models_privacy import AuditEntry
from sc_asterisk.db.models_web import ApiToken, WebUser


def users(env):
    with env.db.session() as s:
        return sorted(s.execute(select(WebUser.username, WebUser.role)).all())


def test_an_admin_adds_a_user_who_can_then_log_in(web):
    admin = web.client("admin")
    response = admin.post("/api/v1/users", json={"username": "carol", "password": PASSWORD,
                                                 "role": "analyst"})
    assert response.status_code == 201 and response.json()["role"] == "analyst"
    login = web.client().post("/api/v1/session", json={"username": "carol",
                                                       "password": PASSWORD})
    assert login.json()["permissions"] == ["campaign:read", "report:read", "cdr:export"]
    page = admin.get("/api/v1/users", params={"limit": 2}).json()
    assert page["total"] == 5 and [u["username"] for u in page["items"]] == ["admin", "analyst"]
    assert admin.delete("/api/v1/users/carol").status_code == 204
    with web.db.session() as s:
        assert [(a.actor, a.action) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("user-%"),
                                     AuditEntry.actor.like("web:%")))] == \
            [("web:admin", "user-add"), ("web:admin", "user-remove")]


def test_bad_users_are_refused_with_the_clis_line_and_nothing_written(web):
    admin, before = web.client("admin"), users(web)
    cases = [
        ({"username": "dave", "password": "short", "role": "analyst"},
         "password shorter than 12 characters (choose a longer one (a passphrase of four "
         "words will do))"),
        ({"username": "dave", "password": PASSWORD, "role": "boss"},
         "unknown role 'boss' (use one of: operator, analyst, engineer, admin)"),
        ({"username": "operator", "password": PASSWORD, "role": "admin"},
         "user 'operator' already exists (choose another name, or remove it first: "
         "sc-asterisk user remove)"),
        ({"username": "Dave Smith", "password": PASSWORD, "role": "admin"},
         "bad user name 'Dave Smith' (use lower-case letters, digits, '.', '_', '@' or '-' "
         "(max 60))"),
    ]
    for body, line in cases:
        response = admin.post("/api/v1/users", json=body)
        assert (response.status_code, response.json()) == (400, {"error": line}), body
    response = admin.post("/api/v1/users", json={"username": "dave"})
    assert response.status_code == 422 and response.json()["error"].startswith("bad password:")
    assert admin.delete("/api/v1/users/nobody").json() == {
        "error": "no user named 'nobody' (see: sc-asterisk user list)"}
    assert users(web) == before


def test_tokens_made_through_the_api_are_shown_once_and_revocable(web):
    admin = web.client("admin")
    made = admin.post("/api/v1/users/operator/tokens", json={"name": "crm"})
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["token_id"]
    listed = admin.get("/api/v1/tokens", params={"user": "operator"}).json()
    assert token_id in [t["token_id"] for t in listed] and token not in str(listed)
    scripted = web.client()
    scripted.headers["Authorization"] = f"Bearer {token}"
    assert scripted.get("/api/v1/me").json()["username"] == "operator"
    assert admin.delete(f"/api/v1/tokens/{token_id}").status_code == 204
    assert scripted.get("/api/v1/me").status_code == 401
    with web.db.session() as s:
        assert s.scalar(select(ApiToken).where(ApiToken.token_id == token_id)) is None
    bad = admin.post("/api/v1/users/operator/tokens", json={"name": "two words"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad token name")
