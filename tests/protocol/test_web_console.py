"""The console's pages: nothing but the login page and static files without logging in; a
form login (refused from another site); the campaign list with progress, the campaign page
with its live counters (server-sent events) and buttons only for roles that may use them; in
French and English."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD
from sc_asterisk.db.models_web import WebSession

PAGES = ["/", "/campaigns/muni", "/campaigns/nope", "/new", "/campaigns/done/report",
         "/contacts", "/telecom", "/cdr"]


def logged_in(env, role: str):
    client = env.client()
    response = client.post("/login", data={"username": role, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    return client


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_browsers_to_the_login(shared_web, path):
    response = shared_web.client().get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_only_the_login_page_and_static_files_are_open(shared_web):
    client = shared_web.client()
    login = client.get("/login")
    assert login.status_code == 200 and 'name="password"' in login.text
    assert "<script>" not in login.text and "style=" not in login.text     # the CSP allows none
    assert login.headers["content-security-policy"].startswith("default-src 'self'")
    assert login.headers["x-frame-options"] == "DENY"
    for path in ("/static/console.css", "/static/console.js"):
        assert client.get(path).status_code == 200


def test_form_login_sets_the_session_cookie_and_a_wrong_one_opens_nothing(web):
    client = web.client()
    wrong = client.post("/login", data={"username": "operator", "password": "not it at all"})
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    client = logged_in(web, "operator")
    assert client.get("/api/v1/me").json()["via"] == "session"


def test_a_login_posted_from_another_site_is_refused(web):
    response = web.client().post("/login", data={"username": "operator", "password": PASSWORD},
                                 headers={"Origin": "https://evil.example"},
                                 follow_redirects=False)
    assert response.status_code == 403 and "login from another site refused" in response.text
    response = web.client().post("/api/v1/session",
                                 json={"username": "operator", "password": PASSWORD},
                                 headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.json()["error"].startswith("login from another site refused")
    same_site = web.client().post("/login", data={"username": "operator", "password": PASSWORD},
                                  headers={"Origin": "https://testserver"},
                                  follow_redirects=False)
    assert same_site.status_code == 303
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1


def test_the_campaign_list_shows_progress_in_french_or_english(shared_web):
    client = logged_in(shared_web, "analyst")
    french = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).text
    assert "<h1>Campagnes</h1>" in french and "terminée" in french
    assert '<progress max="40" value="40"></progress>' in french and "40/40" in french
    english = client.get("/?lang=en", headers={"Accept-Language": "fr"})
    assert "<h1>Campaigns</h1>" in english.text and "completed" in english.text
    assert client.get("/", headers={"Accept-Language": "fr"}).text.count("Campaigns") >= 1


def test_the_campaign_page_has_live_counters_and_buttons_for_operators(shared_web):
    operator = logged_in(shared_web, "operator").get("/campaigns/done").text
    assert 'data-live="/api/v1/campaigns/done/events"' in operator
    assert '<dd data-field="answered">23</dd>' in operator
    assert 'data-action="pause"' in operator and '<meta name="csrf-token"' in operator
    analyst = logged_in(shared_web, "analyst").get("/campaigns/done").text
    assert 'data-field="answered"' in analyst and 'data-action=' not in analyst


def test_roles_without_campaigns_get_the_403_page(shared_web):
    response = logged_in(shared_web, "engineer").get("/")
    assert response.status_code == 403
    assert "role engineer may not campaign:read" in response.text


def test_an_unknown_campaign_page_is_404_with_the_clis_line(shared_web):
    response = logged_in(shared_web, "operator").get("/campaigns/nope")
    assert response.status_code == 404
    assert "no campaign named &#39;nope&#39; (see: sc-asterisk campaign list)" in response.text


def test_live_events_carry_the_status_figures(shared_web):
    client = logged_in(shared_web, "operator")
    response = client.get("/api/v1/campaigns/done/events", params={"limit": 2, "every": 0.5})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    assert len(events) == 2
    status = client.get("/api/v1/campaigns/done/status").json()
    for block in events:
        kind, data = block.split("\n")
        assert kind == "event: status"
        figures = json.loads(data.removeprefix("data: "))
        assert {k: v for k, v in figures.items() if k != "computed_at"} == \
            {k: v for k, v in status.items() if k != "computed_at"}
    assert client.get("/api/v1/campaigns/nope/events").status_code == 404


def test_a_live_stream_ends_when_its_token_is_revoked(web, monkeypatch):
    import sc_asterisk.web.api.campaigns as campaigns
    from sc_asterisk.users.tokens import revoke_token
    monkeypatch.setattr(campaigns, "RECHECK_LOGIN_S", 0.0)
    events = 0
    with web.client("operator").stream("GET", "/api/v1/campaigns/done/events",
                                       params={"every": 0.5, "limit": 6}) as response:
        for line in response.iter_lines():
            if line.startswith("event: status"):
                events += 1
                if events == 1:
                    with web.db.session() as s:
                        revoke_token(s, web.tokens["operator"].split("_")[1])
    assert events == 1          # not the 6 asked for: the login no longer holds


@pytest.mark.parametrize("path,allowed", [("/new", {"operator", "admin"}),
                                          ("/campaigns/done/report", {"analyst", "admin"}),
                                          ("/contacts", {"operator", "admin"}),
                                          ("/telecom", {"engineer", "admin"}),
                                          ("/cdr", {"analyst", "admin"})])
def test_the_form_and_the_report_pages_follow_the_roles(shared_web, path, allowed):
    for role in ("operator", "analyst", "engineer", "admin"):
        response = logged_in(shared_web, role).get(path)
        assert response.status_code == (200 if role in allowed else 403), role


def test_the_create_form_lists_the_prompts_and_profiles(shared_web):
    page = logged_in(shared_web, "operator").get("/new?lang=fr").text
    assert "Nouvelle campagne" in page and "Envoyer un son" in page
    assert '<option value="msg">' in page and '<option value="basic">' in page
    assert 'name="file"' in page and "data-create" in page


def test_the_campaign_page_counts_the_audience_for_editors_only(shared_web):
    assert "data-queue=" in logged_in(shared_web, "operator").get("/campaigns/muni").text
    analyst = logged_in(shared_web, "analyst").get("/campaigns/muni").text
    assert "data-queue=" not in analyst and "data-report-link" in analyst
    assert "/new" in logged_in(shared_web, "operator").get("/").text
    assert 'href="/new"' not in logged_in(shared_web, "analyst").get("/").text


def test_the_report_page_shows_the_figures_the_retention_curve_and_the_downloads(shared_web):
    client = logged_in(shared_web, "analyst")
    page = client.get("/campaigns/done/report").text
    figures = client.get("/api/v1/campaigns/done/report").json()
    assert f'data-figure="answered">{figures["answered"]}<' in page
    assert '/api/v1/campaigns/done/retention.png' in page
    for fmt in ("csv", "jsonl", "parquet"):
        assert f"/api/v1/cdr?campaign=done&amp;format={fmt}" in page


def test_each_role_sees_the_sections_it_may_use(shared_web):
    expected = {"operator": {"campaigns", "contacts"}, "analyst": {"campaigns", "cdr_export"},
                "engineer": {"telecom"},
                "admin": {"campaigns", "contacts", "telecom", "cdr_export"}}
    home = {"operator": "/", "analyst": "/", "engineer": "/telecom", "admin": "/"}
    for role, sections in expected.items():
        page = logged_in(shared_web, role).get(home[role]).text
        shown = {key for key in ("campaigns", "contacts", "telecom", "cdr_export")
                 if f'data-nav="{key}"' in page}
        assert shown == sections, role


def test_the_cdr_form_downloads_with_its_empty_fields(shared_web):
    client = logged_in(shared_web, "analyst")
    page = client.get("/cdr?lang=fr").text
    assert 'action="/api/v1/cdr"' in page and "Télécharger" in page
    assert 'name="clear"' not in page
    assert 'name="clear"' in logged_in(shared_web, "admin").get("/cdr").text
    response = client.get("/api/v1/cdr?campaign=done&since=&until=&format=csv")
    assert response.status_code == 200
    assert response.text.count("\n") == 41                  # header + the 40 calls of "done"
