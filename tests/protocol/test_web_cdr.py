"""The CDR export as an HTTP download: the CLI's bytes, pseudonymised unless an admin asks,
every download audited with the user, bad input refused before anything is written."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
from click.testing import CliRunner
from sqlalchemy import func, select

from sc_asterisk.cli.common import cli
from sc_asterisk.db import CallAttempt
from sc_asterisk.db.models_privacy import AuditEntry


def audits(env):
    with env.db.session() as s:
        return [(a.actor, a.action, a.details) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("cdr-export%"))
            .order_by(AuditEntry.id))]


def test_the_csv_download_is_the_cli_export_byte_for_byte(web, tmp_path):
    response = web.client("analyst").get("/api/v1/cdr", params={"campaign": "done",
                                                                "tz": "Europe/Paris"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="cdr.csv"'
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(cli, ["--db", web.url, "--home", str(web.home), "cdr", "export",
                                      "--campaign", "done", "--tz", "Europe/Paris",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert response.content == out.read_bytes()


def test_numbers_are_pseudonymised_and_the_download_audited(web):
    response = web.client("analyst").get("/api/v1/cdr", params={"format": "jsonl",
                                                                "campaign": "done"})
    rows = [json.loads(line) for line in response.text.splitlines()]
    with web.db.session() as s:
        numbers = set(s.scalars(select(CallAttempt.number)))
        assert len(rows) == s.scalar(select(func.count()).select_from(CallAttempt))
    assert "number" not in rows[0] and len(rows[0]["number_pseudonym"]) == 64
    assert not numbers & {r["number_pseudonym"] for r in rows}
    assert not any(number in response.text for number in numbers)
    [(actor, action, details)] = audits(web)
    assert (actor, action, details["campaigns"], details["format"]) == \
        ("web:analyst", "cdr-export", ["done"], "jsonl")


def test_clear_numbers_for_the_admin_only_and_audited_as_such(web):
    refused = web.client("analyst").get("/api/v1/cdr", params={"clear": "true"})
    assert refused.status_code == 403 and audits(web) == []
    response = web.client("admin").get("/api/v1/cdr", params={"clear": "true",
                                                              "format": "jsonl"})
    assert response.status_code == 200
    rows = [json.loads(line) for line in response.text.splitlines()]
    with web.db.session() as s:
        assert {r["number"] for r in rows} == set(s.scalars(select(CallAttempt.number)))
    [(actor, action, _)] = audits(web)
    assert (actor, action) == ("web:admin", "cdr-export-clear-numbers")


def test_parquet_and_chosen_fields(web):
    response = web.client("analyst").get("/api/v1/cdr", params={
        "format": "parquet", "fields": "attempt_id,outcome"})
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == ["attempt_id", "outcome"] and table.num_rows == 40


def test_bad_input_is_one_line_and_writes_no_audit_entry(web):
    client = web.client("analyst")
    cases = [
        ({"campaign": "nope"}, 404, "no campaign named 'nope' (see: sc-asterisk campaign list)"),
        ({"since": "yesterday"}, 400, "bad since 'yesterday' (use ISO 8601, e.g. 2024-05-01 "
                                      "or 2024-05-01T08:00+02:00)"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, 400,
         "since is not before until (swap or widen the dates)"),
        ({"tz": "Nowhere"}, 400, "unknown time zone 'Nowhere' (use e.g. UTC or Europe/Paris)"),
        ({"format": "jsonl", "excel": "true"}, 400,
         "--excel only applies to CSV (add --format csv or drop --excel)"),
    ]
    for params, status, line in cases:
        response = client.get("/api/v1/cdr", params=params)
        assert (response.status_code, response.json()) == (status, {"error": line}), params
    response = client.get("/api/v1/cdr", params={"format": "xml"})
    assert response.status_code == 422 and response.json()["error"].startswith("bad format:")
    response = client.get("/api/v1/cdr", params={"fields": "attempt_id,nope"})
    assert response.status_code == 400 and "nope" in response.json()["error"]
    assert audits(web) == []
