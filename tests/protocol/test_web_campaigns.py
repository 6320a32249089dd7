"""Campaigns through the HTTP API: the CLI's lifecycle rules and words, audited with the user;
pages; live figures from an index-only GROUP BY, shared by every viewer; the report's JSON is
the CLI's."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import event, func, select, text

from sc_asterisk.cli.common import cli
from sc_asterisk.db import CallAttempt, CallRecord, Campaign, Contact
from sc_asterisk.db.models_privacy import AuditEntry
from sc_asterisk.web.live import LiveCache


def status_of(env, name):
    with env.db.session() as s:
        return s.scalar(select(Campaign.status).where(Campaign.name == name))


def audit(env):
    with env.db.session() as s:
        return [(a.actor, a.action, a.details) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign-status")
            .order_by(AuditEntry.id))]


def test_the_lifecycle_through_http_is_audited_with_the_user(web):
    client = web.client("operator")
    for action, status in (("start", "running"), ("pause", "paused"), ("resume", "running"),
                           ("cancel", "cancelled")):
        response = client.post(f"/api/v1/campaigns/muni/{action}")
        assert response.status_code == 200, response.text
        assert response.json() == {"name": "muni", "status": status}
        assert status_of(web, "muni") == status
    assert audit(web) == [
        ("web:operator", "campaign-status", {"campaign": "muni", "from": a, "to": b})
        for a, b in (("draft", "running"), ("running", "paused"), ("paused", "running"),
                     ("running", "cancelled"))]


def test_a_refused_transition_is_the_clis_one_line_and_changes_nothing(web):
    response = web.client("admin").post("/api/v1/campaigns/done/pause")
    assert response.status_code == 400
    line = response.json()["error"]
    assert line == ("campaign 'done' is completed; it cannot become paused "
                    "(see: sc-asterisk campaign status done)")
    cli_run = CliRunner().invoke(cli, ["--db", web.url, "--home", str(web.home),
                                       "campaign", "pause", "done"])
    assert line == cli_run.exception.one_line()            # the same words as the CLI
    assert status_of(web, "done") == "completed" and audit(web) == []


def test_an_unknown_campaign_is_404_with_one_line(shared_web):
    for method, path in (("GET", "/api/v1/campaigns/nope"), ("GET", "/api/v1/campaigns/nope/status"),
                         ("POST", "/api/v1/campaigns/nope/start")):
        response = shared_web.client("admin").request(method, path)
        assert response.status_code == 404
        assert response.json() == {"error": "no campaign named 'nope' "
                                            "(see: sc-asterisk campaign list)"}


def test_campaigns_come_a_page_at_a_time(shared_web):
    client = shared_web.client("analyst")
    first = client.get("/api/v1/campaigns", params={"limit": 2}).json()
    second = client.get("/api/v1/campaigns", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == second["total"] == 4
    names = [c["name"] for c in first["items"] + second["items"]]
    assert names == ["done", "muni", "second", "third"]
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "ten"}):
        response = client.get("/api/v1/campaigns", params=bad)
        assert response.status_code == 422
        line = response.json()["error"]
        assert line.startswith(f"bad {next(iter(bad))}:") and "\n" not in line


def test_show_gives_settings_and_script(shared_web):
    body = shared_web.client("operator").get("/api/v1/campaigns/muni").json()
    assert body["status"] == "draft" and body["compliance_profile"] == "basic"
    assert [(s["role"], s["audio"]) for s in body["segments"]] == [("message", "msg"),
                                                                    ("notice", "notice")]


def test_live_figures_match_the_rows(shared_web):
    body = shared_web.client("operator").get("/api/v1/campaigns/done/status").json()
    with shared_web.db.session() as s:
        cid = s.scalar(select(Campaign.id).where(Campaign.name == "done"))
        outcomes = dict(s.execute(select(CallRecord.outcome, func.count()).join(CallAttempt)
                                  .where(CallAttempt.campaign_id == cid)
                                  .group_by(CallRecord.outcome)).all())
        opted = s.scalar(select(func.count()).select_from(CallRecord).join(CallAttempt)
                         .where(CallAttempt.campaign_id == cid, CallRecord.opted_out))
        total = s.scalar(select(func.count()).select_from(CallAttempt)
                         .where(CallAttempt.campaign_id == cid))
    assert body["total"] == total == 40 and body["done"] == 40 and body["in_flight"] == 0
    assert body["outcomes"] == outcomes and body["answered"] == outcomes["answered"]
    assert body["opted_out"] == opted


def test_attempt_states_are_counted_from_the_index_alone(shared_web):
    seen: list[tuple[str, tuple]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    engine = shared_web.db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        shared_web.client("operator").get("/api/v1/campaigns/done/status")
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    statement, parameters = next((st, p) for st, p in seen
                                 if "GROUP BY call_attempt.state" in st)
    with engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters))
    assert "COVERING INDEX ix_call_attempt_claim" in plan, plan


def test_viewers_share_one_computation_per_interval(shared_web):
    now = [0.0]
    cache = LiveCache(every=1.0, clock=lambda: now[0])
    for _ in range(5):
        cache.get(shared_web.db, "done")
    assert cache.computed == cache.outcomes_computed == 1
    now[0] = 1.5
    cache.get(shared_web.db, "done")
    assert cache.computed == cache.outcomes_computed == 2


def test_costly_outcome_counts_are_refreshed_less_often_than_states(shared_web, monkeypatch):
    import sc_asterisk.web.live as live
    now = [0.0]

    def slow_outcomes(s, campaign):      # as if the campaign's records took 0.5 s to read
        now[0] += 0.5
        return live_outcomes(s, campaign)

    live_outcomes = live.outcome_counts
    monkeypatch.setattr(live, "outcome_counts", slow_outcomes)
    cache = LiveCache(every=1.0, clock=lambda: now[0])
    cache.get(shared_web.db, "done")                       # outcomes: next after 10 x 0.5 s
    for at in (1.0, 2.0, 3.0, 4.0):
        now[0] = at
        cache.get(shared_web.db, "done")
    assert (cache.computed, cache.outcomes_computed) == (5, 1)
    now[0] = 5.0
    figures = cache.get(shared_web.db, "done")
    assert (cache.computed, cache.outcomes_computed) == (6, 2)
    assert figures["answered"] == 23 and figures["total"] == 40


def test_the_report_is_the_clis_json(shared_web):
    body = shared_web.client("analyst").get("/api/v1/campaigns/done/report",
                                            params={"min_listen_s": 7, "tz": "Europe/Paris"})
    assert body.status_code == 200
    result = CliRunner().invoke(cli, ["--db", shared_web.url, "--home", str(shared_web.home),
                                      "report", "done", "--json", "--min-listen-s", "7",
                                      "--tz", "Europe/Paris"])
    assert result.exit_code == 0, result.output
    assert body.json() == json.loads(result.output)
    bad = shared_web.client("analyst").get("/api/v1/campaigns/done/report",
                                           params={"tz": "Mars/Olympus"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "unknown time zone 'Mars/Olympus' (use e.g. UTC or "
                                   "Europe/Paris)"}


def test_the_retention_curve_is_the_clis_png(shared_web, tmp_path):
    response = shared_web.client("analyst").get("/api/v1/campaigns/done/retention.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    plot = tmp_path / "cli.png"
    result = CliRunner().invoke(cli, ["--db", shared_web.url, "--home", str(shared_web.home),
                                      "report", "done", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert len(response.content) == plot.stat().st_size


def test_nodes_and_trunks_are_described_as_the_cli_does(web):
    with web.db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO trunk (name, host, port, transport, register, match, codecs, "
            "max_channels, cps, qualify_s, caller_id_policy, dial_prefix, billing_increment_s, "
            "enabled, srtp, created_at, secret_file) VALUES ('acme', '192.0.2.1', 5060, 'udp', "
            "false, '[]', 'alaw', 30, 5, 60, 'from', '', 1, true, false, CURRENT_TIMESTAMP, "
            "'/secret/acme')"))
    client = web.client("engineer")
    page = client.get("/api/v1/trunks").json()
    assert page["total"] == 1 and page["items"][0]["name"] == "acme"
    trunk = client.get("/api/v1/trunks/acme").json()
    assert trunk["max_channels"] == "30" and trunk["secret"] == "******** (/secret/acme)"
    assert client.get("/api/v1/trunks/nope").json() == {
        "error": "no trunk named 'nope' (see: sc-asterisk trunk list)"}


def test_a_campaign_created_through_http_is_the_clis(web):
    client = web.client("operator")
    response = client.post("/api/v1/campaigns", json={
        "name": "new", "message": "msg", "notice": "notice", "compliance_profile": "basic",
        "cps": 2, "windows": ["mon-fri 10:00-13:00"], "retries": ["busy=1:60"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["cps"], body["windows"]) == ("draft", 2.0,
                                                              ["mon-fri 10:00-13:00"])
    with web.db.session() as s:
        policy = s.scalar(select(Campaign.retry_policy).where(Campaign.name == "new"))
        actions = list(s.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "campaign-create")))
    assert json.loads(policy)["rules"]["busy"] == {"max_attempts": 1, "delay_s": 60,
                                                   "backoff": 1.0}
    assert actions == ["web:operator"]


def test_a_bad_campaign_is_the_clis_one_line_and_nothing_is_written(web):
    client, base = web.client("operator"), {"name": "new", "message": "msg", "notice": "notice",
                                            "compliance_profile": "basic"}
    cases = [
        ({"compliance_profile": "fr-cnil"}, "the fr-cnil profile needs an opt-out intro played "
         "first (give --optout-intro AUDIO, or choose --profile basic)"),
        ({"no_retry": True, "retries": ["busy=1:60"]},
         "--no-retry and --retry exclude each other (give one of them)"),
        ({"windows": ["someday"]}, "bad calling window 'someday' (write it as DAY[-DAY] "
         "HH:MM-HH:MM[,HH:MM-HH:MM], e.g. mon-fri 10:00-13:00)"),
        ({"name": "muni"}, "campaign 'muni' already exists (choose another name)"),
    ]
    for change, line in cases:
        response = client.post("/api/v1/campaigns", json={**base, **change})
        assert (response.status_code, response.json()) == (400, {"error": line}), change
    response = client.post("/api/v1/campaigns", json={**base, "message": "nope"})
    assert response.status_code == 404 and response.json()["error"].startswith(
        "no audio named 'nope' for the message")
    response = client.post("/api/v1/campaigns", json={"name": "x"})
    assert response.status_code == 422 and response.json()["error"].startswith("bad message:")
    response = client.post("/api/v1/campaigns", json={**base, "cps": 1000})
    assert response.status_code == 422 and response.json()["error"] == (
        "bad cps: Input should be less than or equal to 500 (see /api/v1/openapi.json)")
    with web.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 4
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "campaign-create")) == 0


def _consent(env, how_many: int) -> None:
    with env.db.session() as s:
        ids = list(s.scalars(select(Contact.id).order_by(Contact.id).limit(how_many)))
        for contact in s.scalars(select(Contact).where(Contact.id.in_(ids))):
            contact.legal_basis = "consent"


def attempts(env, name):
    with env.db.session() as s:
        return s.scalar(select(func.count()).select_from(CallAttempt).join(Campaign)
                        .where(Campaign.name == name))


def test_queueing_through_http_counts_as_the_cli_and_a_dry_run_writes_nothing(web):
    _consent(web, 10)
    client = web.client("operator")
    dry = client.post("/api/v1/campaigns/muni/queue", json={"dry_run": True}).json()
    assert dry == {"name": "muni", "matched": 10, "queued": 10, "excluded": {"no-consent": 30},
                   "address_cutoff": None, "dry_run": True}
    assert attempts(web, "muni") == 0
    real = client.post("/api/v1/campaigns/muni/queue", json={}).json()
    assert {**dry, "dry_run": False} == real and attempts(web, "muni") == 10
    cli_run = CliRunner().invoke(cli, ["--db", web.url, "--home", str(web.home),
                                       "campaign", "queue", "second"])
    assert cli_run.output == "10 matched, 10 attempts queued for second\n" \
                             "  excluded no-consent: 30\n"
    with web.db.session() as s:
        [(actor, details)] = s.execute(select(AuditEntry.actor, AuditEntry.details).where(
            AuditEntry.action == "campaign-queue")).all()
    assert actor == "web:operator" and details["queued"] == 10
    area = client.post("/api/v1/campaigns/third/queue",
                       json={"where": ["postcode=75011"], "max_address_age": "18m",
                             "dry_run": True}).json()
    assert area["address_cutoff"] is not None
    bad = client.post("/api/v1/campaigns/third/queue", json={"where": ["bogus=1"]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("unknown filter 'bogus'")
    assert attempts(web, "third") == 0


def test_the_live_listen_rate_is_the_report_s_heard_min_rate(shared_web):
    live = shared_web.client("operator").get("/api/v1/campaigns/done/status").json()
    report = shared_web.client("analyst").get("/api/v1/campaigns/done/report",
                                              params={"min_listen_s": 10}).json()
    assert live["min_listen_s"] == 10
    assert live["heard_min"] == report["listen"]["heard_min"] > 0
    assert live["listen_rate"] == round(100 * report["listen"]["heard_min_rate"], 1)


def test_calls_per_second_come_from_the_state_counts_over_ten_seconds(shared_web, monkeypatch):
    """No query of its own: the change in dialed attempts between the index-only counts."""
    import sc_asterisk.web.live as live
    now, dialed = [0.0], [0]
    real_states = live.attempt_states

    def states(s, campaign):                 # 'done' as if 5 more were dialed each second
        counted = dict(real_states(s, campaign))
        counted["queued"] = counted.get("queued", 0) + 1000 - dialed[0]
        counted["finished"] = counted.get("finished", 0) + dialed[0]
        return counted

    monkeypatch.setattr(live, "attempt_states", states)
    cache = LiveCache(every=1.0, clock=lambda: now[0])
    assert cache.get(shared_web.db, "done")["calls_per_s"] is None      # one sample: no rate
    for second in range(1, 25):
        now[0], dialed[0] = float(second), 5 * second
        figures = cache.get(shared_web.db, "done")
        assert figures["calls_per_s"] == 5.0, (second, figures["calls_per_s"])
    now[0], dialed[0] = 30.0, 5 * 24                 # nothing dialed for 6 s: the rate falls
    assert cache.get(shared_web.db, "done")["calls_per_s"] < 5.0


def test_the_retention_curve_is_drawn_at_most_every_30_s(shared_web):
    from sc_asterisk.web.live import RetentionCache
    now = [0.0]
    cache = RetentionCache(clock=lambda: now[0])
    client = shared_web.client("analyst")
    client.app.state.retention = cache
    first = client.get("/api/v1/campaigns/done/retention.png").content
    now[0] = 29.0
    assert client.get("/api/v1/campaigns/done/retention.png").content == first
    assert cache.drawn == 1
    now[0] = 31.0
    client.get("/api/v1/campaigns/done/retention.png")
    assert cache.drawn == 2
